/** Unit: how analytics words durations, ages, managers and RetailCRM links (src/analytics/human-units.ts). */
import { expect } from 'chai';
import { crmOrderUrl, crmTaskUrl, humanAgo, humanSeconds, managerLabel } from '../../src/analytics/human-units.js';

describe('analytics human units', () => {
  // GIVEN waits in seconds WHEN worded THEN seconds, then minutes and seconds, then hours and minutes
  it('words waits and talk times', () => {
    const cases: [number | null, string][] = [
      [null, '—'], [0, '0 s'], [45, '45 s'], [54.6, '55 s'], [59.4, '59 s'], [60, '1 min'], [125, '2 min 5 s'],
      [3599, '59 min 59 s'], [3600, '1 h'], [3780, '1 h 3 min'], [3819, '1 h 3 min'], [-3, '0 s'],
    ];
    for (const [sec, text] of cases) expect(humanSeconds(sec), String(sec)).to.equal(text);
  });

  // GIVEN ages in minutes WHEN worded THEN minutes, then hours and minutes, then whole days (rounded down)
  it('words how long ago', () => {
    const cases: [number, string][] = [
      [0, '0 min'], [12, '12 min'], [59, '59 min'], [60, '1 h'], [200, '3 h 20 min'], [1439, '23 h 59 min'],
      [1440, '1 day'], [2879, '1 day'], [7200, '5 days'], [914_320, '634 days'],
    ];
    for (const [min, text] of cases) expect(humanAgo(min), String(min)).to.equal(text);
  });

  // GIVEN what is known of a manager WHEN labelled THEN the name, else the extension, else the user id
  it('names managers, with fallbacks', () => {
    expect(managerLabel({ managerName: 'Anna Smirnova', managerCode: '101', managerUserId: 11 })).to.equal('Anna Smirnova');
    expect(managerLabel({ managerName: null, managerCode: '101', managerUserId: 11 })).to.equal('ext. 101');
    expect(managerLabel({ managerName: null, managerCode: null, managerUserId: 11 })).to.equal('user 11');
    expect(managerLabel({ managerName: null, managerCode: null, managerUserId: null })).to.equal('(no extension)');
  });

  // GIVEN an account URL with or without a trailing slash WHEN linked THEN one slash before the path
  it('links tasks and orders', () => {
    expect(crmTaskUrl('https://shop.retailcrm.ru/', 7)).to.equal('https://shop.retailcrm.ru/tasks/7');
    expect(crmOrderUrl('https://shop.retailcrm.ru', 8)).to.equal('https://shop.retailcrm.ru/orders/8/edit');
  });
});
