/**
 * The text of a code SMS, per locale. Short on purpose (most fit one part) and always ending with
 * a warning not to share the code, which is what carriers and regulators ask of OTP traffic.
 * Optional extras for automatic code entry:
 * - Android SMS Retriever: the text starts with `<#>` and carries the app's 11-character hash on a
 *   line of its own;
 * - WebOTP (browsers): the last line is `@domain #code`, binding the code to that origin.
 * When both are asked for, the hash goes on the line before the WebOTP line, since WebOTP only
 * reads the last line and SMS Retriever finds the hash anywhere in the text.
 */

export const OTP_LOCALES = ['en', 'zh-CN', 'es', 'fr', 'de', 'ja', 'pt-BR'] as const;
export type OtpLocale = (typeof OTP_LOCALES)[number];

interface Phrases {
  withApp(app: string, code: string, minutes: number): string;
  plain(code: string, minutes: number): string;
}

const PHRASES: Record<OtpLocale, Phrases> = {
  en: {
    withApp: (app, code, m) =>
      `${app}: your verification code is ${code}. It expires in ${m} min. Do not share it.`,
    plain: (code, m) => `Your verification code is ${code}. It expires in ${m} min. Do not share it.`,
  },
  'zh-CN': {
    withApp: (app, code, m) => `【${app}】您的验证码是${code}，${m}分钟内有效。请勿泄露给他人。`,
    plain: (code, m) => `您的验证码是${code}，${m}分钟内有效。请勿泄露给他人。`,
  },
  es: {
    withApp: (app, code, m) =>
      `${app}: tu código de verificación es ${code}. Caduca en ${m} min. No lo compartas.`,
    plain: (code, m) => `Tu código de verificación es ${code}. Caduca en ${m} min. No lo compartas.`,
  },
  fr: {
    withApp: (app, code, m) =>
      `${app} : votre code de vérification est ${code}. Il expire dans ${m} min. Ne le partagez pas.`,
    plain: (code, m) =>
      `Votre code de vérification est ${code}. Il expire dans ${m} min. Ne le partagez pas.`,
  },
  de: {
    withApp: (app, code, m) =>
      `${app}: Ihr Bestätigungscode lautet ${code}. Er ist ${m} Min. gültig. Geben Sie ihn nicht weiter.`,
    plain: (code, m) =>
      `Ihr Bestätigungscode lautet ${code}. Er ist ${m} Min. gültig. Geben Sie ihn nicht weiter.`,
  },
  ja: {
    withApp: (app, code, m) =>
      `【${app}】認証コードは${code}です。有効期限は${m}分です。他人に教えないでください。`,
    plain: (code, m) => `認証コードは${code}です。有効期限は${m}分です。他人に教えないでください。`,
  },
  'pt-BR': {
    withApp: (app, code, m) =>
      `${app}: seu código de verificação é ${code}. Ele expira em ${m} min. Não o compartilhe.`,
    plain: (code, m) => `Seu código de verificação é ${code}. Ele expira em ${m} min. Não o compartilhe.`,
  },
};

/** The locale a country's users most likely read, when the request names none. */
const COUNTRY_LOCALE: Record<string, OtpLocale> = {
  CN: 'zh-CN',
  HK: 'zh-CN',
  TW: 'zh-CN',
  SG: 'en',
  JP: 'ja',
  BR: 'pt-BR',
  PT: 'pt-BR',
  ES: 'es',
  MX: 'es',
  AR: 'es',
  CO: 'es',
  CL: 'es',
  PE: 'es',
  FR: 'fr',
  BE: 'fr',
  LU: 'fr',
  DE: 'de',
  AT: 'de',
  CH: 'de',
};

/**
 * The template locale for a requested BCP 47 tag: exact match, then its language (`es-MX` → `es`,
 * `pt` → `pt-BR`, `zh-Hans` → `zh-CN`), then the country's usual locale, then English.
 */
export function resolveLocale(requested: string | undefined, country: string | undefined): OtpLocale {
  if (requested !== undefined) {
    const exact = OTP_LOCALES.find((l) => l.toLowerCase() === requested.toLowerCase());
    if (exact) return exact;
    const language = requested.split(/[-_]/, 1)[0]!.toLowerCase();
    const byLanguage = OTP_LOCALES.find((l) => l.split('-', 1)[0]!.toLowerCase() === language);
    if (byLanguage) return byLanguage;
  }
  return (country !== undefined ? COUNTRY_LOCALE[country] : undefined) ?? 'en';
}

export interface OtpTextInput {
  locale: OtpLocale;
  code: string;
  /** Validity shown to the user, in seconds (rounded up to whole minutes). */
  ttlSeconds: number;
  appName?: string | undefined;
  /** Android SMS Retriever app hash (11 characters). */
  appHash?: string | undefined;
  /** Origin domain for the WebOTP line, e.g. `example.com`. */
  webOtpDomain?: string | undefined;
}

export const APP_HASH = /^[A-Za-z0-9+/]{11}$/;
/** A host name (no scheme, port or path), as WebOTP expects after the `@`. */
export const WEB_OTP_DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
/** Letters, digits, spaces and a little punctuation: no line breaks, links or lookalike markup. */
export const APP_NAME = /^[\p{L}\p{N}][\p{L}\p{N} .&'_-]{0,29}$/u;

export function renderOtpText(input: OtpTextInput): string {
  const minutes = Math.max(1, Math.ceil(input.ttlSeconds / 60));
  const phrases = PHRASES[input.locale];
  let text = input.appName
    ? phrases.withApp(input.appName, input.code, minutes)
    : phrases.plain(input.code, minutes);
  if (input.appHash) text = `<#> ${text}\n${input.appHash}`;
  if (input.webOtpDomain) text = `${text}\n\n@${input.webOtpDomain.toLowerCase()} #${input.code}`;
  return text;
}
