"""A linear-chain CRF in PyTorch, constrained to the valid tag sequences of a tag scheme.

Tags are "O" plus "{prefix}-{label}" with the prefixes of the scheme (BILUO: B, I, L, U;
BIO: B, I). Forbidden transitions, starts and ends get a large negative score (`FORBIDDEN`)
in the partition function, the gold score, the marginals and Viterbi alike, so the model
never spends probability mass on sequences that cannot be turned into entities. A finite
value instead of -inf keeps log-sum-exp and its gradients free of NaNs.

All functions take batch-first padded tensors: emissions (B, T, K) and a boolean mask
(B, T) that is True on the first `length` positions of each row. Rows of length 0 are
allowed: their log partition and NLL are 0 and they decode to an empty list.
"""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

FORBIDDEN = -10000.0
SCHEME_PREFIXES = {"BILUO": ("B", "I", "L", "U"), "BIO": ("B", "I")}


@contextmanager
def small_op_threads(device: torch.device) -> Iterator[None]:
    """Run the CRF's step-by-step loops on one CPU thread, restoring the setting afterwards.

    Each step works on tiny (B, K, K) tensors, where intra-op threads only add
    synchronisation: on a busy 2-core machine a step was 10-30x slower with 2 threads.
    """
    n_threads = torch.get_num_threads()
    if torch.device(device).type != "cpu" or n_threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n_threads)


def make_tags(labels: Sequence[str], scheme: str = "BILUO") -> List[str]:
    """The tag set for `labels`: "O" first, then each label's tags in prefix order."""
    prefixes = SCHEME_PREFIXES[_check_scheme(scheme)]
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in prefixes]


def split_tag(tag: str) -> Tuple[str, str]:
    """("B", "CONTEXT") for "B-CONTEXT"; ("O", "") for "O"."""
    return (tag, "") if tag == "O" else tuple(tag.split("-", 1))  # type: ignore[return-value]


def _check_scheme(scheme: str) -> str:
    if scheme not in SCHEME_PREFIXES:
        raise ValueError(f"Unknown tag scheme {scheme!r}: choose one of {', '.join(SCHEME_PREFIXES)}")
    return scheme


def is_allowed(prev: Optional[str], tag: Optional[str], scheme: str = "BILUO") -> bool:
    """Whether `tag` may follow `prev`; prev=None tests a start, tag=None an end."""
    _check_scheme(scheme)
    p_pre, p_label = split_tag(prev) if prev is not None else (None, "")
    t_pre, t_label = split_tag(tag) if tag is not None else (None, "")
    if scheme == "BILUO":
        if p_pre in ("B", "I"):  # an open entity must continue: I-X or L-X of the same label
            return t_pre in ("I", "L") and t_label == p_label
        return t_pre not in ("I", "L")  # nothing open: no I/L (an end is fine)
    if t_pre == "I":  # BIO: I-X only continues B-X or I-X
        return p_pre in ("B", "I") and p_label == t_label
    return True


def allowed_masks(tags: Sequence[str], scheme: str = "BILUO") -> Tuple[List[bool], List[bool], List[List[bool]]]:
    """Allowed starts (K), ends (K) and transitions (K x K, [from][to]) for a tag set."""
    start = [is_allowed(None, t, scheme) for t in tags]
    end = [is_allowed(t, None, scheme) for t in tags]
    trans = [[is_allowed(a, b, scheme) for b in tags] for a in tags]
    return start, end, trans


def is_valid_sequence(tags: Sequence[str], scheme: str = "BILUO") -> bool:
    """Whether a full tag sequence is valid in the scheme (an empty one is)."""
    if not tags:
        return True
    pairs = zip([None, *tags], [*tags, None])
    return all(is_allowed(a, b, scheme) for a, b in pairs)


class CRF(nn.Module):
    """Transition, start and end scores of a linear-chain CRF plus the scheme's constraints.

    Parameters: `transitions` (K, K) indexed [from, to], `start` (K), `end` (K).
    Buffers (serialized with the state dict): the additive constraint masks, 0 where allowed
    and FORBIDDEN where not.
    """

    def __init__(self, n_tags: int = 0):
        super().__init__()
        self.resize(n_tags)

    @property
    def n_tags(self) -> int:
        return self.transitions.shape[0]

    def resize(self, n_tags: int) -> None:
        """(Re)create zero scores and permissive masks for `n_tags` tags, on the current device."""
        device = self.start.device if hasattr(self, "start") else None
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags, device=device))
        self.start = nn.Parameter(torch.zeros(n_tags, device=device))
        self.end = nn.Parameter(torch.zeros(n_tags, device=device))
        self.register_buffer("trans_mask", torch.zeros(n_tags, n_tags, device=device))
        self.register_buffer("start_mask", torch.zeros(n_tags, device=device))
        self.register_buffer("end_mask", torch.zeros(n_tags, device=device))

    def set_constraints(self, tags: Sequence[str], scheme: str = "BILUO") -> None:
        """Forbid the transitions, starts and ends that are invalid for `tags` in `scheme`."""
        if len(tags) != self.n_tags:
            raise ValueError(f"{len(tags)} tags for a CRF of {self.n_tags}")
        start, end, trans = allowed_masks(tags, scheme)
        for buf, allowed in ((self.start_mask, start), (self.end_mask, end), (self.trans_mask, trans)):
            ok = torch.tensor(allowed, dtype=torch.bool, device=buf.device)
            buf.copy_(torch.where(ok, 0.0, FORBIDDEN))

    def _scores(self, learned: bool) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if learned:
            return self.transitions + self.trans_mask, self.start + self.start_mask, self.end + self.end_mask
        return self.trans_mask, self.start_mask, self.end_mask

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor, learned: bool = True) -> torch.Tensor:
        """Forward algorithm: log of the summed scores of all sequences, one value per row (B)."""
        trans, start, end = self._scores(learned)
        B, T, _ = emissions.shape
        if T == 0:
            return emissions.new_zeros(B)
        alpha = start + emissions[:, 0]
        for t in range(1, T):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t : t + 1], nxt, alpha)
        logz = torch.logsumexp(alpha + end, dim=1)
        return torch.where(mask[:, 0], logz, torch.zeros_like(logz))

    def nll(self, emissions: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per row (B) of partially known gold tags.

        gold (B, T) long: the gold tag index, or -1 where the tag is missing. The likelihood of
        a partially labelled row is the total probability of all sequences that agree with its
        known tags (missing tokens are marginalised out); fully labelled rows get the usual
        CRF NLL, rows without any known tag get 0. A row whose known tags no valid sequence
        agrees with (see `gold_reachable`) gets about -FORBIDDEN and a gradient toward an
        invalid path: leave such rows out.
        """
        known = gold >= 0
        allowed = torch.ones_like(emissions, dtype=torch.bool)
        onehot = nn.functional.one_hot(gold.clamp(min=0), emissions.shape[-1]).bool()
        allowed = torch.where(known.unsqueeze(-1), onehot, allowed)
        clamped = torch.where(allowed, emissions, emissions + FORBIDDEN)
        # One forward pass over both batches: the loop over positions costs per step, not per row.
        both = self.log_partition(torch.cat([emissions, clamped]), torch.cat([mask, mask]))
        return both[: len(emissions)] - both[len(emissions) :]

    def gold_reachable(self, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        """Whether some valid tag sequence agrees with the known tags of each row.

        Forward reachability through the allowed starts, transitions and ends: a gap of
        missing tags is crossed only if some valid tags can fill it, so the check is exact
        where comparing neighbouring known tags is not (e.g. B-A, ?, L-B under BILUO).

        mask (torch.Tensor): (B, T) bool, True on the first `length` positions of each row.
        gold (torch.Tensor): (B, T) long, the tag index, or -1 where the tag is missing.
        RETURNS (torch.Tensor): (B,) bool; True for empty rows and rows without known tags.
        """
        B, T = gold.shape
        if T == 0:
            return torch.ones(B, dtype=torch.bool, device=gold.device)
        known = (gold >= 0) & mask
        partial = known.any(dim=1) & (known != mask).any(dim=1)
        # Rows with every tag known (most training docs) are checked transition by transition,
        # rows without known tags are trivially reachable; only the rest need the forward pass.
        reachable = self._valid_rows(mask, gold, known)
        if partial.any():
            reachable[partial] = self._reachable_rows(mask[partial], gold[partial])
        return reachable

    def _valid_rows(self, mask: torch.Tensor, gold: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """(B,) bool: the known tags (`known`: (B, T) bool, gold >= 0 within the mask) of each
        row form a valid sequence, unknown tags ignored (exact for rows whose tags are all known
        or all unknown)."""
        g = gold.clamp(min=0)
        ok = (self.start_mask[g[:, 0]] == 0) | ~known[:, 0]
        pairs = known[:, :-1] & known[:, 1:]
        ok &= ((self.trans_mask[g[:, :-1], g[:, 1:]] == 0) | ~pairs).all(dim=1)
        last = (mask.sum(dim=1) - 1).clamp(min=0)
        last_tag = g.gather(1, last.unsqueeze(1)).squeeze(1)
        last_known = known.gather(1, last.unsqueeze(1)).squeeze(1)
        return ok & ((self.end_mask[last_tag] == 0) | ~last_known)

    def _reachable_rows(self, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        """(B,) bool by forward reachability (see `gold_reachable`), for any row."""
        T = gold.shape[1]
        trans_ok = (self.trans_mask == 0).float()
        tags = torch.arange(self.n_tags, device=gold.device)

        def fits(t: int) -> torch.Tensor:  # (B, K): the tags position t may take
            g = gold[:, t : t + 1]
            return (tags == g) | (g < 0)

        reach = (self.start_mask == 0) & fits(0)  # (B, K): tags some valid prefix can end in
        for t in range(1, T):
            step = ((reach.float() @ trans_ok) > 0) & fits(t)
            reach = torch.where(mask[:, t : t + 1], step, reach)
        return (reach & (self.end_mask == 0)).any(dim=1) | ~mask[:, 0]

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor, learned: bool = True) -> torch.Tensor:
        """Per-token tag marginals p(y_t = k | x) (B, T, K), by forward-backward in log space.

        Explicit passes rather than autograd through `log_partition`: autograd keeps every
        step's (B, K, K) intermediates and graph nodes, which for a doc of hundreds of
        thousands of tokens took gigabytes; here memory is the (B, T, K) forward and backward
        scores, and time is linear in T.
        """
        trans, start, end = (x.detach() for x in self._scores(learned))
        emissions = emissions.detach()
        B, T, K = emissions.shape
        if T == 0:
            return emissions.new_zeros(B, T, K)
        with torch.no_grad():
            alpha = emissions.new_empty(B, T, K)
            alpha[:, 0] = start + emissions[:, 0]
            for t in range(1, T):
                nxt = torch.logsumexp(alpha[:, t - 1].unsqueeze(2) + trans, dim=1) + emissions[:, t]
                alpha[:, t] = torch.where(mask[:, t : t + 1], nxt, alpha[:, t - 1])
            logz = torch.logsumexp(alpha[:, T - 1] + end, dim=1)  # alpha is carried past a row's end
            beta = emissions.new_empty(B, T, K)
            beta[:, T - 1] = end
            for t in range(T - 2, -1, -1):
                nxt = torch.logsumexp(trans + (emissions[:, t + 1] + beta[:, t + 1]).unsqueeze(1), dim=2)
                beta[:, t] = torch.where(mask[:, t + 1 : t + 2], nxt, end)  # a row's last token: end scores
            probs = torch.exp(alpha + beta - logz.view(B, 1, 1))
        # float32 rounding can put a near-certain tag's marginal just past 1 (e.g. 1.00002)
        return probs.clamp(0.0, 1.0) * mask.unsqueeze(-1)

    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor, learned: bool = True) -> List[List[int]]:
        """Best valid tag sequence per row (a list of length `mask[b].sum()` per row).

        learned=False decodes with the constraints only (no learned transition/start/end
        scores): the most probable valid sequence under independent per-token scores.
        """
        trans, start, end = self._scores(learned)
        B, T, _ = emissions.shape
        lengths = mask.sum(dim=1).tolist()
        if T == 0:
            return [[] for _ in range(B)]
        with torch.no_grad():
            score = start + emissions[:, 0]
            history = []
            for t in range(1, T):
                best, idx = (score.unsqueeze(2) + trans).max(dim=1)
                score = torch.where(mask[:, t : t + 1], best + emissions[:, t], score)
                history.append(idx)
            last = (score + end).argmax(dim=1).tolist()
            back = torch.stack(history).cpu().numpy() if history else None
        paths = []
        for b, n in enumerate(lengths):
            if n == 0:
                paths.append([])
                continue
            path = [last[b]]
            for t in range(n - 1, 0, -1):
                path.append(int(back[t - 1, b, path[-1]]))
            paths.append(path[::-1])
        return paths
