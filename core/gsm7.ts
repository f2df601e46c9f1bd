/**
 * The 7-bit SMS alphabets of 3GPP TS 23.038: the GSM default alphabet with its extension table, and
 * the national language shift tables Pigeon can count with (Turkish, Spanish, Portuguese). A
 * locking shift table replaces the default alphabet for the whole part; a single shift table
 * replaces the extension table, each of its characters costing an escape septet and its own.
 */

/** The default alphabet (the escape 0x1B itself is left out: it cannot appear in text). */
export const GSM7_DEFAULT: ReadonlySet<string> = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);

/** The default extension table: each character costs two septets (escape and character). */
export const GSM7_EXTENSION: ReadonlySet<string> = new Set('\f^{}\\[~]|€');

/** The national languages whose shift tables Pigeon knows (ISO 639-1). */
export const NATIONAL_LANGUAGES = ['tr', 'es', 'pt'] as const;
export type NationalLanguage = (typeof NATIONAL_LANGUAGES)[number];

/** Locking shift tables (TS 23.038 A.3): Spanish has none, its texts keep the default alphabet. */
export const LOCKING_SHIFT: Readonly<Partial<Record<NationalLanguage, ReadonlySet<string>>>> = {
  tr: new Set(
    '@£$¥€éùıòÇ\nĞğ\rÅåΔ_ΦΓΛΩΠΨΣΘΞŞşßÉ !"#¤%&\'()*+,-./0123456789:;<=>?İABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§çabcdefghijklmnopqrstuvwxyzäöñüà',
  ),
  pt: new Set(
    '@£$¥êéúíóç\nÔô\rÁáΔ_ªÇÀ∞^\\€Ó|ÂâÊÉ !"#º%&\'()*+,-./0123456789:;<=>?ÍABCDEFGHIJKLMNOPQRSTUVWXYZÃÕÚÜ§~abcdefghijklmnopqrstuvwxyzãõ`üà',
  ),
};

/** Single shift tables (TS 23.038 A.2): each replaces the default extension table as a whole. */
export const SINGLE_SHIFT: Readonly<Record<NationalLanguage, ReadonlySet<string>>> = {
  tr: new Set('\f^{}\\[~]|ĞİŞç€ğış'),
  es: new Set('ç\f^{}\\[~]|ÁÍÓÚá€íóú'),
  pt: new Set('êç\fÔôÁáΦΓ^ΩΠΨΣΘÊ{}\\[~]|ÀÍÓÚÃÕÂ€íóúãõâ'),
};
