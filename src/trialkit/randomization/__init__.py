"""Randomization: concealed permuted-block lists, stratification, dose cohorts and minimization.

Pure functions over the protocol; the application stores the list or the minimization state,
serializes allocations and decides who may see what.
"""

from trialkit.randomization.balance import (
    BalanceReport,
    balance_report,
    block_bound,
    convergence_guess_score,
    exact_block_guess_rate,
    max_prefix_imbalance,
)
from trialkit.randomization.minimization import (
    MinimizationResult,
    Minimizer,
    marginal_imbalance,
    minimization_kit_codes,
)
from trialkit.randomization.permuted_blocks import (
    AllocationList,
    BlindedAllocation,
    Candidate,
    Slot,
    allocate_next,
    generate_list,
    permuted_block_sequence,
)
from trialkit.randomization.predictability import (
    GuessRate,
    block_guess_rate,
    list_predictability,
    minimization_guess_rate,
    sequence_guess_score,
)
from trialkit.randomization.strata import (
    AllocationError,
    StratumError,
    all_strata,
    allocation_stratum,
    current_cohort,
    stratum_key,
    stratum_levels,
)
from trialkit.randomization.stream import SeededStream

__all__ = [
    "AllocationError",
    "AllocationList",
    "BalanceReport",
    "BlindedAllocation",
    "Candidate",
    "GuessRate",
    "MinimizationResult",
    "Minimizer",
    "SeededStream",
    "Slot",
    "StratumError",
    "all_strata",
    "allocate_next",
    "allocation_stratum",
    "balance_report",
    "block_bound",
    "block_guess_rate",
    "convergence_guess_score",
    "current_cohort",
    "exact_block_guess_rate",
    "generate_list",
    "list_predictability",
    "marginal_imbalance",
    "max_prefix_imbalance",
    "minimization_guess_rate",
    "minimization_kit_codes",
    "permuted_block_sequence",
    "sequence_guess_score",
    "stratum_key",
    "stratum_levels",
]
