//! ISO 3166-1 alpha-2 country codes to English short country names.
//!
//! The Python stack this crate replaces sent the `HubSpot` contact property `country` as the
//! country's English short name (for example `"United Kingdom"`), derived with `pycountry` from
//! the ISO 3166-1 alpha-2 code found in Auth0 signup metadata (for example `"GB"`). This module
//! reproduces that mapping without external dependencies.
//!
//! The names are the ISO 3166-1 English short names exactly as `pycountry`'s `.name` attribute
//! returns them (taken from the Debian `iso-codes` 4.15.0 `iso_3166-1.json` data that `pycountry`
//! bundles), so e.g. `"KR"` maps to `"Korea, Republic of"` rather than a colloquial
//! `"South Korea"`.
//!
//! In addition to the 249 officially assigned alpha-2 codes, [`country_name`] accepts a few
//! non-ISO extras used by thiscovery (the private `EXTRAS` table):
//!
//! * the UK home-nation ISO 3166-2 subdivision codes `GB-ENG`, `GB-SCT`, `GB-WLS` and `GB-NIR`;
//! * `UK`, a common (but exceptionally reserved, not assigned) alias of `GB`.

/// Looks up the English short name of a country from its code.
///
/// `code` is trimmed of surrounding whitespace and matched case-insensitively against the
/// ISO 3166-1 alpha-2 codes (e.g. `"gb"` and `" GB "` both give `Some("United Kingdom")`), then
/// against the non-ISO extras (`"GB-ENG"` gives `Some("England")`, `"UK"` gives
/// `Some("United Kingdom")`).
///
/// Returns `None` for anything else, including unassigned codes (`"XX"`), the empty string and
/// alpha-3 codes (`"GBR"`).
#[must_use]
pub fn country_name(code: &str) -> Option<&'static str> {
    let code = code.trim();
    // The longest accepted code is six bytes ("GB-ENG"); anything longer cannot match, and
    // bailing out early keeps the upper-casing below allocation-free.
    let mut buf = [0u8; 6];
    let upper = buf.get_mut(..code.len())?;
    upper.copy_from_slice(code.as_bytes());
    upper.make_ascii_uppercase();
    let upper: &[u8] = upper;
    lookup(COUNTRIES, upper).or_else(|| lookup(EXTRAS, upper))
}

/// Binary-searches a table sorted by code for an (already upper-cased) code.
fn lookup(table: &[(&str, &'static str)], code: &[u8]) -> Option<&'static str> {
    table
        .binary_search_by(|(c, _)| c.as_bytes().cmp(code))
        .ok()
        .and_then(|i| table.get(i))
        .map(|&(_, name)| name)
}

/// Every officially assigned ISO 3166-1 alpha-2 code (249 of them) with its English short
/// name as given by `pycountry`'s `.name`.
///
/// Invariant: this table MUST stay sorted by code (byte-wise, upper-case ASCII) with no
/// duplicates, because [`country_name`] looks codes up with a binary search. The unit tests
/// check this, and that the table holds exactly 249 entries.
static COUNTRIES: &[(&str, &str)] = &[
    ("AD", "Andorra"),
    ("AE", "United Arab Emirates"),
    ("AF", "Afghanistan"),
    ("AG", "Antigua and Barbuda"),
    ("AI", "Anguilla"),
    ("AL", "Albania"),
    ("AM", "Armenia"),
    ("AO", "Angola"),
    ("AQ", "Antarctica"),
    ("AR", "Argentina"),
    ("AS", "American Samoa"),
    ("AT", "Austria"),
    ("AU", "Australia"),
    ("AW", "Aruba"),
    ("AX", "Åland Islands"),
    ("AZ", "Azerbaijan"),
    ("BA", "Bosnia and Herzegovina"),
    ("BB", "Barbados"),
    ("BD", "Bangladesh"),
    ("BE", "Belgium"),
    ("BF", "Burkina Faso"),
    ("BG", "Bulgaria"),
    ("BH", "Bahrain"),
    ("BI", "Burundi"),
    ("BJ", "Benin"),
    ("BL", "Saint Barthélemy"),
    ("BM", "Bermuda"),
    ("BN", "Brunei Darussalam"),
    ("BO", "Bolivia, Plurinational State of"),
    ("BQ", "Bonaire, Sint Eustatius and Saba"),
    ("BR", "Brazil"),
    ("BS", "Bahamas"),
    ("BT", "Bhutan"),
    ("BV", "Bouvet Island"),
    ("BW", "Botswana"),
    ("BY", "Belarus"),
    ("BZ", "Belize"),
    ("CA", "Canada"),
    ("CC", "Cocos (Keeling) Islands"),
    ("CD", "Congo, The Democratic Republic of the"),
    ("CF", "Central African Republic"),
    ("CG", "Congo"),
    ("CH", "Switzerland"),
    ("CI", "Côte d'Ivoire"),
    ("CK", "Cook Islands"),
    ("CL", "Chile"),
    ("CM", "Cameroon"),
    ("CN", "China"),
    ("CO", "Colombia"),
    ("CR", "Costa Rica"),
    ("CU", "Cuba"),
    ("CV", "Cabo Verde"),
    ("CW", "Curaçao"),
    ("CX", "Christmas Island"),
    ("CY", "Cyprus"),
    ("CZ", "Czechia"),
    ("DE", "Germany"),
    ("DJ", "Djibouti"),
    ("DK", "Denmark"),
    ("DM", "Dominica"),
    ("DO", "Dominican Republic"),
    ("DZ", "Algeria"),
    ("EC", "Ecuador"),
    ("EE", "Estonia"),
    ("EG", "Egypt"),
    ("EH", "Western Sahara"),
    ("ER", "Eritrea"),
    ("ES", "Spain"),
    ("ET", "Ethiopia"),
    ("FI", "Finland"),
    ("FJ", "Fiji"),
    ("FK", "Falkland Islands (Malvinas)"),
    ("FM", "Micronesia, Federated States of"),
    ("FO", "Faroe Islands"),
    ("FR", "France"),
    ("GA", "Gabon"),
    ("GB", "United Kingdom"),
    ("GD", "Grenada"),
    ("GE", "Georgia"),
    ("GF", "French Guiana"),
    ("GG", "Guernsey"),
    ("GH", "Ghana"),
    ("GI", "Gibraltar"),
    ("GL", "Greenland"),
    ("GM", "Gambia"),
    ("GN", "Guinea"),
    ("GP", "Guadeloupe"),
    ("GQ", "Equatorial Guinea"),
    ("GR", "Greece"),
    ("GS", "South Georgia and the South Sandwich Islands"),
    ("GT", "Guatemala"),
    ("GU", "Guam"),
    ("GW", "Guinea-Bissau"),
    ("GY", "Guyana"),
    ("HK", "Hong Kong"),
    ("HM", "Heard Island and McDonald Islands"),
    ("HN", "Honduras"),
    ("HR", "Croatia"),
    ("HT", "Haiti"),
    ("HU", "Hungary"),
    ("ID", "Indonesia"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IM", "Isle of Man"),
    ("IN", "India"),
    ("IO", "British Indian Ocean Territory"),
    ("IQ", "Iraq"),
    ("IR", "Iran, Islamic Republic of"),
    ("IS", "Iceland"),
    ("IT", "Italy"),
    ("JE", "Jersey"),
    ("JM", "Jamaica"),
    ("JO", "Jordan"),
    ("JP", "Japan"),
    ("KE", "Kenya"),
    ("KG", "Kyrgyzstan"),
    ("KH", "Cambodia"),
    ("KI", "Kiribati"),
    ("KM", "Comoros"),
    ("KN", "Saint Kitts and Nevis"),
    ("KP", "Korea, Democratic People's Republic of"),
    ("KR", "Korea, Republic of"),
    ("KW", "Kuwait"),
    ("KY", "Cayman Islands"),
    ("KZ", "Kazakhstan"),
    ("LA", "Lao People's Democratic Republic"),
    ("LB", "Lebanon"),
    ("LC", "Saint Lucia"),
    ("LI", "Liechtenstein"),
    ("LK", "Sri Lanka"),
    ("LR", "Liberia"),
    ("LS", "Lesotho"),
    ("LT", "Lithuania"),
    ("LU", "Luxembourg"),
    ("LV", "Latvia"),
    ("LY", "Libya"),
    ("MA", "Morocco"),
    ("MC", "Monaco"),
    ("MD", "Moldova, Republic of"),
    ("ME", "Montenegro"),
    ("MF", "Saint Martin (French part)"),
    ("MG", "Madagascar"),
    ("MH", "Marshall Islands"),
    ("MK", "North Macedonia"),
    ("ML", "Mali"),
    ("MM", "Myanmar"),
    ("MN", "Mongolia"),
    ("MO", "Macao"),
    ("MP", "Northern Mariana Islands"),
    ("MQ", "Martinique"),
    ("MR", "Mauritania"),
    ("MS", "Montserrat"),
    ("MT", "Malta"),
    ("MU", "Mauritius"),
    ("MV", "Maldives"),
    ("MW", "Malawi"),
    ("MX", "Mexico"),
    ("MY", "Malaysia"),
    ("MZ", "Mozambique"),
    ("NA", "Namibia"),
    ("NC", "New Caledonia"),
    ("NE", "Niger"),
    ("NF", "Norfolk Island"),
    ("NG", "Nigeria"),
    ("NI", "Nicaragua"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("NP", "Nepal"),
    ("NR", "Nauru"),
    ("NU", "Niue"),
    ("NZ", "New Zealand"),
    ("OM", "Oman"),
    ("PA", "Panama"),
    ("PE", "Peru"),
    ("PF", "French Polynesia"),
    ("PG", "Papua New Guinea"),
    ("PH", "Philippines"),
    ("PK", "Pakistan"),
    ("PL", "Poland"),
    ("PM", "Saint Pierre and Miquelon"),
    ("PN", "Pitcairn"),
    ("PR", "Puerto Rico"),
    ("PS", "Palestine, State of"),
    ("PT", "Portugal"),
    ("PW", "Palau"),
    ("PY", "Paraguay"),
    ("QA", "Qatar"),
    ("RE", "Réunion"),
    ("RO", "Romania"),
    ("RS", "Serbia"),
    ("RU", "Russian Federation"),
    ("RW", "Rwanda"),
    ("SA", "Saudi Arabia"),
    ("SB", "Solomon Islands"),
    ("SC", "Seychelles"),
    ("SD", "Sudan"),
    ("SE", "Sweden"),
    ("SG", "Singapore"),
    ("SH", "Saint Helena, Ascension and Tristan da Cunha"),
    ("SI", "Slovenia"),
    ("SJ", "Svalbard and Jan Mayen"),
    ("SK", "Slovakia"),
    ("SL", "Sierra Leone"),
    ("SM", "San Marino"),
    ("SN", "Senegal"),
    ("SO", "Somalia"),
    ("SR", "Suriname"),
    ("SS", "South Sudan"),
    ("ST", "Sao Tome and Principe"),
    ("SV", "El Salvador"),
    ("SX", "Sint Maarten (Dutch part)"),
    ("SY", "Syrian Arab Republic"),
    ("SZ", "Eswatini"),
    ("TC", "Turks and Caicos Islands"),
    ("TD", "Chad"),
    ("TF", "French Southern Territories"),
    ("TG", "Togo"),
    ("TH", "Thailand"),
    ("TJ", "Tajikistan"),
    ("TK", "Tokelau"),
    ("TL", "Timor-Leste"),
    ("TM", "Turkmenistan"),
    ("TN", "Tunisia"),
    ("TO", "Tonga"),
    ("TR", "Türkiye"),
    ("TT", "Trinidad and Tobago"),
    ("TV", "Tuvalu"),
    ("TW", "Taiwan, Province of China"),
    ("TZ", "Tanzania, United Republic of"),
    ("UA", "Ukraine"),
    ("UG", "Uganda"),
    ("UM", "United States Minor Outlying Islands"),
    ("US", "United States"),
    ("UY", "Uruguay"),
    ("UZ", "Uzbekistan"),
    ("VA", "Holy See (Vatican City State)"),
    ("VC", "Saint Vincent and the Grenadines"),
    ("VE", "Venezuela, Bolivarian Republic of"),
    ("VG", "Virgin Islands, British"),
    ("VI", "Virgin Islands, U.S."),
    ("VN", "Viet Nam"),
    ("VU", "Vanuatu"),
    ("WF", "Wallis and Futuna"),
    ("WS", "Samoa"),
    ("YE", "Yemen"),
    ("YT", "Mayotte"),
    ("ZA", "South Africa"),
    ("ZM", "Zambia"),
    ("ZW", "Zimbabwe"),
];

/// Non-ISO 3166-1 codes that thiscovery also accepts, kept apart from [`COUNTRIES`] so that
/// table stays exactly the 249 ISO 3166-1 alpha-2 codes.
///
/// * `GB-ENG`, `GB-NIR`, `GB-SCT`, `GB-WLS`: ISO 3166-2 subdivision codes of the UK home
///   nations, mapped to the nation's name.
/// * `UK`: a common alias of `GB` (it is only "exceptionally reserved" in ISO 3166-1, not
///   assigned), mapped to `"United Kingdom"`.
///
/// Invariant: like [`COUNTRIES`], this table MUST stay sorted by code with no duplicates, and
/// must not repeat any code in [`COUNTRIES`].
static EXTRAS: &[(&str, &str)] = &[
    ("GB-ENG", "England"),
    ("GB-NIR", "Northern Ireland"),
    ("GB-SCT", "Scotland"),
    ("GB-WLS", "Wales"),
    ("UK", "United Kingdom"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_sorted_unique(table: &[(&str, &str)]) {
        for pair in table.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "table not strictly sorted: {:?} before {:?}",
                pair[0].0,
                pair[1].0
            );
        }
    }

    #[test]
    fn tables_are_sorted_unique_and_complete() {
        assert_sorted_unique(COUNTRIES);
        assert_sorted_unique(EXTRAS);
        assert_eq!(COUNTRIES.len(), 249);
        for (code, name) in COUNTRIES {
            assert_eq!(code.len(), 2, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
            assert!(!name.is_empty(), "{code}");
            assert_eq!(country_name(code), Some(*name));
        }
        for (code, name) in EXTRAS {
            assert!(
                COUNTRIES.binary_search_by(|(c, _)| c.cmp(code)).is_err(),
                "{code} duplicated in COUNTRIES"
            );
            assert!(code.len() <= 6, "{code} longer than the lookup buffer");
            assert_eq!(country_name(code), Some(*name));
        }
    }

    #[test]
    fn documented_examples() {
        let cases = [
            ("GB", "United Kingdom"),
            ("US", "United States"),
            ("KR", "Korea, Republic of"),
            ("IR", "Iran, Islamic Republic of"),
            ("TW", "Taiwan, Province of China"),
            ("VN", "Viet Nam"),
            ("RU", "Russian Federation"),
            ("BO", "Bolivia, Plurinational State of"),
            ("CZ", "Czechia"),
            ("MK", "North Macedonia"),
            ("SZ", "Eswatini"),
            ("TR", "Türkiye"),
            ("GB-ENG", "England"),
            ("GB-SCT", "Scotland"),
            ("GB-WLS", "Wales"),
            ("GB-NIR", "Northern Ireland"),
            ("UK", "United Kingdom"),
        ];
        for (code, name) in cases {
            assert_eq!(country_name(code), Some(name), "{code}");
        }
    }

    #[test]
    fn case_insensitive_and_trimmed() {
        assert_eq!(country_name("gb"), Some("United Kingdom"));
        assert_eq!(country_name("Gb"), Some("United Kingdom"));
        assert_eq!(country_name("  GB\t\n"), Some("United Kingdom"));
        assert_eq!(country_name(" us "), Some("United States"));
        assert_eq!(country_name("gb-eng"), Some("England"));
        assert_eq!(country_name(" Gb-Sct "), Some("Scotland"));
        assert_eq!(country_name("uk"), Some("United Kingdom"));
    }

    #[test]
    fn unknown_codes() {
        for code in [
            "XX",
            "",
            "   ",
            "GBR",
            "USA",
            "G",
            "GB-",
            "GB-XYZ",
            "GB-ENGL",
            "United Kingdom",
            "G B",
            "ÄÖ",
            "é",
        ] {
            assert_eq!(country_name(code), None, "{code:?}");
        }
    }
}
