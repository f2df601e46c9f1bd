import { parseE164 } from './phone.ts';

/**
 * The time zone a recipient most likely lives in, from the number alone, for rules kept in local
 * time (quiet hours, the marketing day and week). The country comes from libphonenumber; its zones
 * come from the platform's CLDR data (`Intl.Locale#getTimeZones`), so most countries need no table
 * here. The tables below only choose among the zones of a country that has several:
 * - US and Canada by NANP area code (a geographic code's zone, which a ported mobile may have
 *   left; there is nothing better in the number);
 * - Australian landlines by their area digit; mobiles (04) get Sydney's zone, the most populous;
 * - the other multi-zone countries get their most populous zone (Moscow, São Paulo, Mexico City…).
 * An unknown area code gets its country's primary zone. undefined: no country (a non-geographic
 * number); callers then treat the number as having no local time.
 */

const NANP_ZONES: Record<string, string> = {};
function areaCodes(zone: string, codes: string): void {
  for (const code of codes.split(/\s+/)) if (code) NANP_ZONES[code] = zone;
}
// United States.
areaCodes(
  'America/New_York',
  `201 202 203 207 212 215 216 220 223 229 231 234 239 240 248 252 267 269 272 276 283 301 302 304
   305 313 315 317 321 326 330 332 336 339 347 351 352 380 386 401 404 407 410 412 413 419 423 434
   440 443 445 448 463 470 475 478 484 502 508 513 516 517 518 540 551 561 567 570 571 574 582 585
   586 603 606 607 609 610 614 616 617 631 640 646 656 667 678 679 680 681 689 703 704 706 716 717
   718 724 727 732 734 740 743 754 757 762 765 770 772 774 781 786 802 803 804 810 812 813 814 826
   828 835 838 839 843 845 848 850 854 856 857 859 860 862 863 864 865 878 904 906 908 910 912 914
   917 919 929 930 934 937 941 943 947 948 954 959 973 978 980 984 989`,
);
areaCodes(
  'America/Chicago',
  `205 210 214 217 218 219 224 225 228 251 254 256 262 270 274 281 308 309 312 314 316 318 319 320
   325 331 334 337 346 361 364 402 405 409 414 417 430 432 447 464 469 479 501 504 507 512 515 531
   534 539 557 563 572 573 580 601 605 608 612 615 618 620 629 630 636 641 651 659 660 662 682 701
   708 712 713 715 726 731 737 763 769 773 779 785 806 815 816 817 830 832 847 870 872 901 903 913
   918 920 931 936 938 940 945 952 956 972 975 979 985`,
);
areaCodes('America/Denver', '208 303 307 385 406 435 505 575 719 720 801 915 970 983 986');
areaCodes('America/Phoenix', '480 520 602 623 928');
areaCodes(
  'America/Los_Angeles',
  `206 209 213 253 279 310 323 341 350 360 408 415 424 425 442 458 503 509 510 530 541 559 562 564
   619 626 628 650 657 661 669 702 707 714 725 747 760 775 805 818 820 831 840 858 909 916 925 949
   951 971`,
);
areaCodes('America/Anchorage', '907');
areaCodes('Pacific/Honolulu', '808');
// Canada.
areaCodes(
  'America/Toronto',
  `226 249 263 289 343 354 365 367 382 416 418 437 438 450 468 514 519 548 579 581 613 647 683 705
   742 753 807 819 873 905 942`,
);
areaCodes('America/Halifax', '428 506 782 902');
areaCodes('America/St_Johns', '709 879');
areaCodes('America/Winnipeg', '204 431 584');
areaCodes('America/Regina', '306 474 639');
areaCodes('America/Edmonton', '368 403 587 780 825 867');
areaCodes('America/Vancouver', '236 250 257 604 672 778');

/** Australian national significant numbers by leading digit: 2 NSW/ACT, 3 VIC/TAS, 7 QLD, 8 WA/SA/NT. */
const AU_ZONES: Record<string, string> = {
  '2': 'Australia/Sydney',
  '3': 'Australia/Melbourne',
  '7': 'Australia/Brisbane',
  // 08 spans Perth, Adelaide and Darwin; Perth's is the most populous and the latest clock, so a
  // window there never opens before it has in Adelaide by more than the 1.5 h between them.
  '8': 'Australia/Perth',
};

/** The zone of a country with several, where the number says nothing more: its most populous. */
const PRIMARY_ZONES: Record<string, string> = {
  US: 'America/New_York',
  CA: 'America/Toronto',
  AU: 'Australia/Sydney',
  RU: 'Europe/Moscow',
  BR: 'America/Sao_Paulo',
  MX: 'America/Mexico_City',
  ID: 'Asia/Jakarta',
  KZ: 'Asia/Almaty',
  AR: 'America/Buenos_Aires',
  CL: 'America/Santiago',
  CN: 'Asia/Shanghai',
  DE: 'Europe/Berlin',
  ES: 'Europe/Madrid',
  PT: 'Europe/Lisbon',
  NZ: 'Pacific/Auckland',
  MY: 'Asia/Kuala_Lumpur',
  EC: 'America/Guayaquil',
  CD: 'Africa/Kinshasa',
  MN: 'Asia/Ulaanbaatar',
  UZ: 'Asia/Tashkent',
  UA: 'Europe/Kyiv',
};

const countryZones = new Map<string, readonly string[]>();
function zonesOf(country: string): readonly string[] {
  let zones = countryZones.get(country);
  if (!zones) {
    const locale = new Intl.Locale(`und-${country}`) as Intl.Locale & { getTimeZones?: () => string[] };
    zones = locale.getTimeZones?.() ?? [];
    countryZones.set(country, zones);
  }
  return zones;
}

/** The IANA zone of a country's primary time, or undefined for an unknown country. */
export function countryTimeZone(country: string): string | undefined {
  return PRIMARY_ZONES[country] ?? zonesOf(country)[0];
}

/** The IANA zone a number's holder most likely keeps (see the module comment). */
export function recipientTimeZone(e164: string): string | undefined {
  const parsed = parseE164(e164);
  const country = parsed?.country;
  if (!country) return undefined;
  if (country === 'US' || country === 'CA') {
    const zone = NANP_ZONES[e164.slice(2, 5)];
    if (zone) return zone;
  } else if (country === 'AU') {
    const zone = AU_ZONES[e164.slice(3, 4)];
    if (zone) return zone;
  }
  return countryTimeZone(country);
}
