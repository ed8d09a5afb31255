/** A tenant's PBX as click-to-call reaches it over AMI, and how it originates calls. Stored by `clicktocall/pbx-store.ts`. */
export interface OriginateSettings {
  /** `PJSIP/{ext}`, `IAX2/{ext}/{ext}`, `Local/{ext}@from-internal`. */
  readonly channelTemplate: string;
  /** Context of the customer leg (where the answered manager leg continues). */
  readonly context: string;
  /** Number shown to the customer; null leaves the dialplan's default. */
  readonly outboundCallerId: string | null;
  readonly originateTimeoutS: number;
}

export interface PbxSettings extends OriginateSettings {
  readonly enterprise: string;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly secret: string;
  readonly updatedAt: Date;
}
