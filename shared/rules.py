"""The stage and score rules of DESIGN.md, as data the event processor reads.

Nothing here branches on an event type: each rule is a table (stage ranks, screening outcomes,
assessment outcomes, interview status precedence, the fixed effect of each event type) and the
few functions below only look things up and compare. Pass marks and score bands come from
settings (``PASS_MARKS``, ``SCORE_BANDS``) through :class:`ScoringRules`, so they change
without a code change.

The invariants the tables encode, from DESIGN.md:

* a candidate's stage only moves forward, ``new < screening < assessment < interview < offer
  < hired``; ``hired``, ``rejected`` and ``withdrawn`` are final for events (later events still
  write their own rows but change neither the stage nor ``needs_review``);
* ``withdrawn`` comes from ``candidate.withdrawn`` (from any non-final stage) or the ATS;
  ``rejected`` only from the ATS; the ATS's ``candidate.status`` command sets any stage;
* no automated decision rejects: a weak screening or a failed assessment sets
  ``needs_review``; events never clear ``needs_review`` (only the ATS does, in its own database).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from shared.contract.events import AssessmentStatus, EventType, Recommendation

__all__ = [
    "ASSESSMENT_OUTCOMES",
    "EVENT_EFFECTS",
    "FINAL_STAGES",
    "INITIAL_STAGE",
    "INTERVIEW_STATUS_BY_EVENT",
    "INTERVIEW_STATUS_RANK",
    "OFFER_STATUS_BY_EVENT",
    "SCREENING_ASSESSMENT_TYPE",
    "SCREENING_OUTCOMES",
    "STAGE_RANK",
    "AssessmentResult",
    "CandidateChange",
    "Effect",
    "InterviewStatus",
    "OfferStatus",
    "ScoreBand",
    "ScoringRules",
    "Stage",
    "apply_effect",
    "assessment_effect",
    "assessment_result",
    "interview_update_applies",
    "parse_stage_rules",
    "proposed_stage_change",
    "screening_effect",
    "stage_set_by_ats",
]


class Stage(StrEnum):
    """A candidate's stage in the hiring pipeline (the ``candidates.stage`` values)."""

    NEW = "new"
    SCREENING = "screening"
    ASSESSMENT = "assessment"
    INTERVIEW = "interview"
    OFFER = "offer"
    HIRED = "hired"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


#: Where a new candidate starts.
INITIAL_STAGE: Final = Stage.NEW

#: The forward order of the pipeline. ``rejected`` and ``withdrawn`` have no rank: they are
#: exits, not steps, and no event moves a candidate "forward" into them by comparison.
STAGE_RANK: Final[Mapping[Stage, int]] = MappingProxyType(
    {
        Stage.NEW: 0,
        Stage.SCREENING: 1,
        Stage.ASSESSMENT: 2,
        Stage.INTERVIEW: 3,
        Stage.OFFER: 4,
        Stage.HIRED: 5,
    }
)

#: Stages events never leave. Only the ATS's ``candidate.status`` command moves out of them.
FINAL_STAGES: Final = frozenset({Stage.HIRED, Stage.REJECTED, Stage.WITHDRAWN})

#: Exits an event may take from any non-final stage, whatever the rank. ``rejected`` is not
#: here: it comes only from the ATS (no automated decision rejects a candidate).
_EVENT_EXITS: Final = frozenset({Stage.WITHDRAWN})


def proposed_stage_change(current: Stage, proposed: Stage | None) -> Stage | None:
    """The stage an event moves the candidate to, or ``None`` when the stage stays as it is.

    Final stages are never left; ``withdrawn`` is taken from any other stage; any other
    proposal applies only when it ranks above the current stage (stages never move back,
    which is what makes late and out-of-order events harmless). An event proposing
    ``rejected`` changes nothing.
    """
    if proposed is None or current in FINAL_STAGES or proposed == current:
        return None
    if proposed in _EVENT_EXITS:
        return proposed
    if proposed not in STAGE_RANK:
        return None
    return proposed if STAGE_RANK[proposed] > STAGE_RANK[current] else None


def stage_set_by_ats(current: Stage, commanded: Stage) -> Stage | None:
    """The ATS's ``candidate.status`` command: the commanded stage, unconditionally.

    The ATS is the authority: it may move back, out of a final stage, or into ``rejected``.
    ``None`` only when the candidate is already there (nothing to record in the history).
    """
    return None if commanded == current else commanded


# --- effects ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Effect:
    """What an event proposes for its candidate: a stage (``None``: none) and ``needs_review``.

    ``needs_review=False`` means "leave the flag as it is", never "clear it".
    """

    stage: Stage | None = None
    needs_review: bool = False


@dataclass(frozen=True, slots=True)
class CandidateChange:
    """What actually changes on the candidate row after the final-stage and forward rules."""

    to_stage: Stage | None
    set_needs_review: bool

    @property
    def changes_anything(self) -> bool:
        return self.to_stage is not None or self.set_needs_review


def apply_effect(current: Stage, effect: Effect) -> CandidateChange:
    """Resolve an event's :class:`Effect` against the candidate's current stage.

    A candidate in a final stage is untouched (neither stage nor ``needs_review``); otherwise
    the stage follows :func:`proposed_stage_change` and ``needs_review`` is set when asked.
    """
    if current in FINAL_STAGES:
        return CandidateChange(to_stage=None, set_needs_review=False)
    return CandidateChange(
        to_stage=proposed_stage_change(current, effect.stage), set_needs_review=effect.needs_review
    )


_NO_EFFECT: Final = Effect()
_REVIEW: Final = Effect(needs_review=True)

#: The fixed effect of each event type whose effect does not depend on its data.
#: ``screening.completed`` and ``assessment.completed`` are decided by their outcome tables
#: (:data:`SCREENING_OUTCOMES`, :data:`ASSESSMENT_OUTCOMES`) and are absent here.
#: Profile events create the candidate at :data:`INITIAL_STAGE` and otherwise change no stage.
EVENT_EFFECTS: Final[Mapping[EventType, Effect]] = MappingProxyType(
    {
        EventType.CANDIDATE_CREATED: _NO_EFFECT,
        EventType.CANDIDATE_UPDATED: _NO_EFFECT,
        EventType.CANDIDATE_WITHDRAWN: Effect(stage=Stage.WITHDRAWN),
        EventType.ASSESSMENT_FAILED: _REVIEW,
        EventType.DOCUMENT_UPLOADED: _NO_EFFECT,
        EventType.INTERVIEW_SCHEDULED: Effect(stage=Stage.INTERVIEW),
        EventType.INTERVIEW_DECLINED: _REVIEW,
        EventType.INTERVIEW_CANCELLED: _REVIEW,
        EventType.OFFER_ACCEPTED: Effect(stage=Stage.HIRED),
        EventType.OFFER_DECLINED: _REVIEW,
    }
)


# --- screening --------------------------------------------------------------------------------

#: ``portal_assessments.assessment_type`` of an AI screening.
SCREENING_ASSESSMENT_TYPE: Final = "ai_screening"


class ScoreBand(StrEnum):
    """Band of an AI screening score (``portal_assessments.band``)."""

    WEAK = "weak"
    MODERATE = "moderate"
    STRONG = "strong"


_ADVANCE: Final = Effect(stage=Stage.ASSESSMENT)
_SCREEN_AND_REVIEW: Final = Effect(stage=Stage.SCREENING, needs_review=True)

#: (recommendation, band) → effect. Only an ``advance`` with a ``strong`` score moves on by
#: itself; everything else waits in ``screening`` for a person (a weak one never rejects).
SCREENING_OUTCOMES: Final[Mapping[tuple[Recommendation, ScoreBand], Effect]] = MappingProxyType(
    {
        (Recommendation.ADVANCE, ScoreBand.STRONG): _ADVANCE,
        (Recommendation.ADVANCE, ScoreBand.MODERATE): _SCREEN_AND_REVIEW,
        (Recommendation.ADVANCE, ScoreBand.WEAK): _SCREEN_AND_REVIEW,
        (Recommendation.REVIEW, ScoreBand.STRONG): _SCREEN_AND_REVIEW,
        (Recommendation.REVIEW, ScoreBand.MODERATE): _SCREEN_AND_REVIEW,
        (Recommendation.REVIEW, ScoreBand.WEAK): _SCREEN_AND_REVIEW,
        (Recommendation.REJECT, ScoreBand.STRONG): _SCREEN_AND_REVIEW,
        (Recommendation.REJECT, ScoreBand.MODERATE): _SCREEN_AND_REVIEW,
        (Recommendation.REJECT, ScoreBand.WEAK): _SCREEN_AND_REVIEW,
    }
)


# --- assessments ------------------------------------------------------------------------------


class AssessmentResult(StrEnum):
    """How an assessment event counts for the stage rules."""

    PASSED = "passed"  # completed, score at or above the pass mark
    BELOW_PASS_MARK = "below_pass_mark"  # noqa: S105  (a result, not a password)
    FAILED = "failed"  # the portal reported status failed (no score)


#: Assessment result → effect. A failed or low assessment leaves the stage as it is.
ASSESSMENT_OUTCOMES: Final[Mapping[AssessmentResult, Effect]] = MappingProxyType(
    {
        AssessmentResult.PASSED: Effect(stage=Stage.INTERVIEW),
        AssessmentResult.BELOW_PASS_MARK: _REVIEW,
        AssessmentResult.FAILED: _REVIEW,
    }
)

_DEFAULT_PASS_MARK_KEY: Final = "default"  # noqa: S105  (a settings key)


@dataclass(frozen=True, slots=True)
class ScoringRules:
    """Score bands and pass marks, from the ``SCORE_BANDS`` and ``PASS_MARKS`` settings.

    ``band_floors`` maps each band to its lower bound (``weak`` 0, ``moderate`` 40, ``strong``
    70 by default); ``pass_marks`` maps an ``assessment_type`` to its pass mark in percent, with
    a ``"default"`` entry for every other type.
    """

    band_floors: Mapping[ScoreBand, Decimal] = field(
        default_factory=lambda: MappingProxyType(
            {ScoreBand.WEAK: Decimal(0), ScoreBand.MODERATE: Decimal(40), ScoreBand.STRONG: Decimal(70)}
        )
    )
    pass_marks: Mapping[str, Decimal] = field(
        default_factory=lambda: MappingProxyType({_DEFAULT_PASS_MARK_KEY: Decimal(60)})
    )
    event_effects: Mapping[EventType, Effect] = field(default_factory=lambda: EVENT_EFFECTS)
    screening_outcomes: Mapping[tuple[Recommendation, ScoreBand], Effect] = field(
        default_factory=lambda: SCREENING_OUTCOMES
    )
    assessment_outcomes: Mapping[AssessmentResult, Effect] = field(
        default_factory=lambda: ASSESSMENT_OUTCOMES
    )
    _floors_high_to_low: tuple[tuple[Decimal, ScoreBand], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if set(self.band_floors) != set(ScoreBand):
            raise ValueError("band_floors needs exactly the bands weak, moderate and strong")
        if _DEFAULT_PASS_MARK_KEY not in self.pass_marks:
            raise ValueError('pass_marks needs a "default" entry')
        floors = sorted(((floor, band) for band, floor in self.band_floors.items()), reverse=True)
        object.__setattr__(self, "_floors_high_to_low", tuple(floors))

    @classmethod
    def from_settings(
        cls,
        *,
        score_bands: Mapping[str, Decimal],
        pass_marks: Mapping[str, Decimal],
        stage_rules: Mapping[str, Any] | None = None,
    ) -> ScoringRules:
        """From ``Settings.score_bands``, ``Settings.pass_marks`` and ``Settings.stage_rules``.

        ``stage_rules`` overrides entries of the three effect tables (see
        :func:`parse_stage_rules`); a malformed override raises ``ValueError`` naming the entry.
        """
        events, screening, assessment = parse_stage_rules(stage_rules or {})
        return cls(
            band_floors=MappingProxyType(
                {ScoreBand(name): Decimal(floor) for name, floor in score_bands.items()}
            ),
            pass_marks=MappingProxyType({kind: Decimal(mark) for kind, mark in pass_marks.items()}),
            event_effects=MappingProxyType({**EVENT_EFFECTS, **events}),
            screening_outcomes=MappingProxyType({**SCREENING_OUTCOMES, **screening}),
            assessment_outcomes=MappingProxyType({**ASSESSMENT_OUTCOMES, **assessment}),
        )

    def band(self, score: Decimal) -> ScoreBand:
        """The highest band whose lower bound the score reaches, on the Decimal as sent.

        Below every floor (impossible for a validated 0–100 score with a floor of 0) counts as
        the lowest band.
        """
        for floor, band in self._floors_high_to_low:
            if score >= floor:
                return band
        return self._floors_high_to_low[-1][1]

    def pass_mark(self, assessment_type: str) -> Decimal:
        """The pass mark (percent) of an assessment type, or the default one."""
        return self.pass_marks.get(assessment_type, self.pass_marks[_DEFAULT_PASS_MARK_KEY])

    def passes(self, *, score: Decimal, max_score: Decimal, assessment_type: str) -> bool:
        """``score / max_score × 100 >= pass mark``, computed as ``score × 100 >= mark ×
        max_score`` so that no division rounds (``max_score`` is > 0 by validation)."""
        return score * 100 >= self.pass_mark(assessment_type) * max_score


def screening_effect(
    rules: ScoringRules, *, recommendation: Recommendation, score: Decimal
) -> tuple[ScoreBand, Effect]:
    """The band of a screening score and the effect of the screening, from the outcome table."""
    band = rules.band(score)
    return band, rules.screening_outcomes[(recommendation, band)]


def assessment_result(
    rules: ScoringRules,
    *,
    status: AssessmentStatus,
    score: Decimal | None,
    max_score: Decimal,
    assessment_type: str,
) -> AssessmentResult:
    """Classify an assessment event; a completed one without a score never gets here (422)."""
    if status is AssessmentStatus.FAILED or score is None:
        return AssessmentResult.FAILED
    passed = rules.passes(score=score, max_score=max_score, assessment_type=assessment_type)
    return AssessmentResult.PASSED if passed else AssessmentResult.BELOW_PASS_MARK


def assessment_effect(
    rules: ScoringRules,
    *,
    status: AssessmentStatus,
    score: Decimal | None,
    max_score: Decimal,
    assessment_type: str,
) -> tuple[AssessmentResult, Effect]:
    """The result of an assessment event and its effect, from :data:`ASSESSMENT_OUTCOMES`."""
    result = assessment_result(
        rules, status=status, score=score, max_score=max_score, assessment_type=assessment_type
    )
    return result, rules.assessment_outcomes[result]


# --- configuration -----------------------------------------------------------------------------

#: Stages no configured rule may set: ``rejected`` comes only from the ATS (no automated decision
#: rejects a candidate), ``withdrawn`` only from the ATS or the candidate's own withdrawal (whose
#: rule is fixed, below), and ``new`` is where candidates start, not where an event sends them.
_NOT_SETTABLE_BY_RULES: Final = frozenset({Stage.REJECTED, Stage.WITHDRAWN, Stage.NEW})

#: Event types whose effect is not configurable: a withdrawal is the candidate's own act.
_FIXED_RULES: Final = frozenset({EventType.CANDIDATE_WITHDRAWN})


def _effect_from(value: Any, where: str) -> Effect:
    if not isinstance(value, Mapping) or not set(value) <= {"stage", "needs_review"}:
        raise ValueError(f'STAGE_RULES {where}: expected {{"stage": ..., "needs_review": ...}}')
    stage_text = value.get("stage")
    needs_review = value.get("needs_review", False)
    if not isinstance(needs_review, bool):
        raise ValueError(f"STAGE_RULES {where}: needs_review must be true or false")
    if stage_text is None:
        return Effect(stage=None, needs_review=needs_review)
    try:
        stage = Stage(stage_text)
    except ValueError:
        raise ValueError(f"STAGE_RULES {where}: {stage_text!r} is not a stage") from None
    if stage in _NOT_SETTABLE_BY_RULES:
        raise ValueError(f"STAGE_RULES {where}: a rule may not set the stage {stage.value!r}")
    return Effect(stage=stage, needs_review=needs_review)


def parse_stage_rules(
    overrides: Mapping[str, Any],
) -> tuple[
    dict[EventType, Effect], dict[tuple[Recommendation, ScoreBand], Effect], dict[AssessmentResult, Effect]
]:
    """Read the ``STAGE_RULES`` setting: overrides of the default effect tables.

    Shape (every part optional)::

        {"events": {"interview.declined": {"needs_review": true}},
         "screening": {"advance/moderate": {"stage": "assessment"}},
         "assessment": {"below_pass_mark": {"stage": null, "needs_review": true}}}

    ``events`` keys are event types with a fixed effect (:data:`EVENT_EFFECTS`); ``screening``
    keys are ``recommendation/band``; ``assessment`` keys are :class:`AssessmentResult` values.
    No rule may set ``rejected``, ``withdrawn`` or ``new``, and ``candidate.withdrawn``'s own
    rule cannot be changed; the forward-only and final-stage rules always hold.
    """
    unknown = set(overrides) - {"events", "screening", "assessment"}
    if unknown:
        raise ValueError(f"STAGE_RULES: unknown section(s) {sorted(unknown)}")
    events: dict[EventType, Effect] = {}
    for key, value in dict(overrides.get("events", {})).items():
        try:
            event_type = EventType(key)
        except ValueError:
            raise ValueError(f"STAGE_RULES events: {key!r} is not an event type") from None
        if event_type not in EVENT_EFFECTS:
            raise ValueError(f"STAGE_RULES events: {key!r} is decided by the screening or assessment table")
        if event_type in _FIXED_RULES:
            raise ValueError(f"STAGE_RULES events: the rule of {key!r} is fixed (the candidate's own act)")
        events[event_type] = _effect_from(value, f"events[{key!r}]")
    screening: dict[tuple[Recommendation, ScoreBand], Effect] = {}
    for key, value in dict(overrides.get("screening", {})).items():
        recommendation, _, band = str(key).partition("/")
        try:
            pair = (Recommendation(recommendation), ScoreBand(band))
        except ValueError:
            raise ValueError(f"STAGE_RULES screening: {key!r} is not 'recommendation/band'") from None
        screening[pair] = _effect_from(value, f"screening[{key!r}]")
    assessment: dict[AssessmentResult, Effect] = {}
    for key, value in dict(overrides.get("assessment", {})).items():
        try:
            result = AssessmentResult(key)
        except ValueError:
            raise ValueError(f"STAGE_RULES assessment: {key!r} is not an assessment result") from None
        assessment[result] = _effect_from(value, f"assessment[{key!r}]")
    return events, screening, assessment


# --- interviews -------------------------------------------------------------------------------


class InterviewStatus(StrEnum):
    """``interviews.status``: set by the ATS side (requested, pending, failed) or the portal."""

    REQUESTED = "requested"
    PENDING = "pending"
    SCHEDULED = "scheduled"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    FAILED = "failed"


#: Precedence of interview statuses: a status never gives way to a lower one. ``cancelled``
#: and ``declined`` are equal (both end the request); ``failed`` (our request was refused) is
#: lowest, so any answer the portal sends after all is believed.
INTERVIEW_STATUS_RANK: Final[Mapping[InterviewStatus, int]] = MappingProxyType(
    {
        InterviewStatus.FAILED: 0,
        InterviewStatus.REQUESTED: 1,
        InterviewStatus.PENDING: 2,
        InterviewStatus.SCHEDULED: 3,
        InterviewStatus.DECLINED: 4,
        InterviewStatus.CANCELLED: 4,
    }
)

#: Breaks a tie between two different statuses of equal rank at the same instant, so that the
#: outcome never depends on arrival order: a cancellation is the later act of the two.
_SAME_INSTANT_TIE_BREAK: Final[Mapping[InterviewStatus, int]] = MappingProxyType(
    {InterviewStatus.DECLINED: 0, InterviewStatus.CANCELLED: 1}
)

#: The interview status each interview answer event sets.
INTERVIEW_STATUS_BY_EVENT: Final[Mapping[EventType, InterviewStatus]] = MappingProxyType(
    {
        EventType.INTERVIEW_SCHEDULED: InterviewStatus.SCHEDULED,
        EventType.INTERVIEW_DECLINED: InterviewStatus.DECLINED,
        EventType.INTERVIEW_CANCELLED: InterviewStatus.CANCELLED,
    }
)


def interview_update_applies(
    current_status: InterviewStatus | None,
    current_event_at: datetime | None,
    new_status: InterviewStatus,
    new_event_at: datetime,
) -> bool:
    """Whether an interview answer (``new_status`` from an envelope created at ``new_event_at``)
    replaces what the row holds.

    A higher-ranked status always wins and a lower one never does. Between equal ranks (two
    ``scheduled``, or ``declined`` against ``cancelled``) the envelope created later wins, so
    the final row is the same whatever order the events arrive in; a row with no event time
    (set by the ATS side, or no row at all) gives way. The same event again (same status and
    time) does not apply: it is a no-op, not a second change.
    """
    if current_status is None:
        return True
    new_rank, current_rank = INTERVIEW_STATUS_RANK[new_status], INTERVIEW_STATUS_RANK[current_status]
    if new_rank != current_rank:
        return new_rank > current_rank
    if current_event_at is None:
        return True
    if new_event_at != current_event_at:
        return new_event_at > current_event_at
    return _SAME_INSTANT_TIE_BREAK.get(new_status, 0) > _SAME_INSTANT_TIE_BREAK.get(current_status, 0)


# --- offers -----------------------------------------------------------------------------------


class OfferStatus(StrEnum):
    """``offers.status``."""

    SENDING = "sending"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    FAILED = "failed"


#: The offer status each offer answer event sets (their candidate effects are in EVENT_EFFECTS).
OFFER_STATUS_BY_EVENT: Final[Mapping[EventType, OfferStatus]] = MappingProxyType(
    {EventType.OFFER_ACCEPTED: OfferStatus.ACCEPTED, EventType.OFFER_DECLINED: OfferStatus.DECLINED}
)
