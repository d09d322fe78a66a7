"""The analyses' one error type, in a module of its own so that reading a trial's tables
(``trial_data``) does not load scipy and statsmodels."""


class AnalysisInputError(ValueError):
    """Input data that cannot be analysed; the message names the column and the rule."""
