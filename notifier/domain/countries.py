"""A customer's country: ISO 3166-1 alpha-2 codes, stated or read off the phone number.

The country picks the public holidays of a rule with ``calendar: {country: customer}``.
Only officially assigned codes count: not the reserved ones (AC, EA, IC ...), not
Kosovo's user-assigned XK, not CLDR's regions (EU, 419).
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

_CODES = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
VN VU WF WS YE YT ZA ZM ZW
"""
ISO_COUNTRIES = frozenset(_CODES.split())


def check_country(value: str) -> str:
    """Return the code in capitals; ValueError unless it is an assigned ISO 3166 code."""
    code = value.strip().upper()
    if code not in ISO_COUNTRIES:
        raise ValueError(
            f"unknown country {value!r}: use an ISO 3166-1 alpha-2 code such as AR, MX or BR"
        )
    return code


@lru_cache(maxsize=4096)
def country_of_phone(phone: str | None) -> str | None:
    """Return the country of an E.164 number by its calling code (+54 is AR), or None.

    Shared calling codes are told apart by the number itself (+1 416 is CA, +1 212 US);
    a number of no one country (+800, +882) gives None.
    """
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone.removeprefix("whatsapp:"), None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    return region if region in ISO_COUNTRIES else None
