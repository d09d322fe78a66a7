# TrialKit's English dates: day, abbreviated month, year ("14 Mar 2026"): no reader at another site
# has to guess whether 03/04 is March or April. Named formats, so other languages use their own.
DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i"
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "F Y"
