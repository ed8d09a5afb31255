/** Who a caller is, as the lookup chain found them and every feature (routing, popups, sync, tasks) uses it. */
export interface CallerInfo {
  readonly customerId: number;
  readonly name: string;
  readonly isCorporate: boolean;
  readonly managerUserId: number | null;
}
