"""Stage and score rules: the tables of DESIGN.md and the few functions that read them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contract.events import AssessmentStatus, EventType, Recommendation
from shared.rules import (
    ASSESSMENT_OUTCOMES,
    EVENT_EFFECTS,
    FINAL_STAGES,
    INITIAL_STAGE,
    INTERVIEW_STATUS_BY_EVENT,
    OFFER_STATUS_BY_EVENT,
    SCREENING_OUTCOMES,
    STAGE_RANK,
    AssessmentResult,
    Effect,
    InterviewStatus,
    OfferStatus,
    ScoreBand,
    ScoringRules,
    Stage,
    apply_effect,
    assessment_effect,
    interview_update_applies,
    proposed_stage_change,
    screening_effect,
    stage_set_by_ats,
)
from shared.settings import load_settings
from tests.unit.test_settings import BASE

RULES = ScoringRules()
PIPELINE = [Stage.NEW, Stage.SCREENING, Stage.ASSESSMENT, Stage.INTERVIEW, Stage.OFFER, Stage.HIRED]
T0 = datetime(2026, 11, 28, 10, tzinfo=UTC)


# --- stages -----------------------------------------------------------------------------------


def test_stage_order_is_designs():
    assert sorted(STAGE_RANK, key=STAGE_RANK.__getitem__) == PIPELINE
    assert INITIAL_STAGE is Stage.NEW
    assert frozenset({Stage.HIRED, Stage.REJECTED, Stage.WITHDRAWN}) == FINAL_STAGES


@pytest.mark.parametrize(("current", "proposed"), list(itertools.product(PIPELINE, PIPELINE)))
def test_stage_only_moves_forward(current, proposed):
    target = proposed_stage_change(current, proposed)
    if current in FINAL_STAGES or PIPELINE.index(proposed) <= PIPELINE.index(current):
        assert target is None
    else:
        assert target is proposed


@pytest.mark.parametrize("final", sorted(FINAL_STAGES))
@pytest.mark.parametrize("proposed", list(Stage))
def test_final_stages_are_never_left_by_events(final, proposed):
    assert proposed_stage_change(final, proposed) is None
    assert apply_effect(final, Effect(stage=proposed, needs_review=True)).changes_anything is False


@pytest.mark.parametrize("current", [s for s in Stage if s not in FINAL_STAGES])
def test_withdrawal_is_taken_from_any_non_final_stage(current):
    assert proposed_stage_change(current, Stage.WITHDRAWN) is Stage.WITHDRAWN


@pytest.mark.parametrize("current", [s for s in Stage if s not in FINAL_STAGES])
def test_events_never_reject(current):
    assert proposed_stage_change(current, Stage.REJECTED) is None


@given(st.lists(st.sampled_from(list(Stage)), max_size=20))
def test_property_stage_rank_never_decreases_under_events(proposals):
    stage = Stage.NEW
    for proposed in proposals:
        target = proposed_stage_change(stage, proposed)
        if target is not None:
            if stage in STAGE_RANK and target in STAGE_RANK:
                assert STAGE_RANK[target] > STAGE_RANK[stage]
            assert stage not in FINAL_STAGES
            stage = target


@given(st.permutations([Stage.SCREENING, Stage.ASSESSMENT, Stage.INTERVIEW, Stage.OFFER]))
def test_property_any_arrival_order_ends_at_the_furthest_stage(order):
    stage = Stage.NEW
    for proposed in order:
        stage = proposed_stage_change(stage, proposed) or stage
    assert stage is Stage.OFFER


@pytest.mark.parametrize(("current", "commanded"), list(itertools.product(list(Stage), list(Stage))))
def test_ats_sets_any_stage_unconditionally(current, commanded):
    assert stage_set_by_ats(current, commanded) == (None if current == commanded else commanded)


def test_needs_review_is_set_but_never_cleared_by_an_effect():
    assert apply_effect(Stage.SCREENING, Effect(needs_review=True)).set_needs_review is True
    change = apply_effect(Stage.SCREENING, Effect(stage=Stage.ASSESSMENT))
    assert change.set_needs_review is False  # False means "leave as is": there is no "clear"
    assert not hasattr(change, "clear_needs_review")


# --- the event table ----------------------------------------------------------------------------


def test_every_event_type_has_its_effect_in_a_table():
    decided_by_outcomes = {EventType.SCREENING_COMPLETED, EventType.ASSESSMENT_COMPLETED}
    assert set(EVENT_EFFECTS) | decided_by_outcomes == set(EventType)
    assert not set(EVENT_EFFECTS) & decided_by_outcomes


@pytest.mark.parametrize(
    ("event_type", "effect"),
    [
        (EventType.CANDIDATE_CREATED, Effect()),
        (EventType.CANDIDATE_UPDATED, Effect()),
        (EventType.CANDIDATE_WITHDRAWN, Effect(stage=Stage.WITHDRAWN)),
        (EventType.ASSESSMENT_FAILED, Effect(needs_review=True)),
        (EventType.DOCUMENT_UPLOADED, Effect()),
        (EventType.INTERVIEW_SCHEDULED, Effect(stage=Stage.INTERVIEW)),
        (EventType.INTERVIEW_DECLINED, Effect(needs_review=True)),
        (EventType.INTERVIEW_CANCELLED, Effect(needs_review=True)),
        (EventType.OFFER_ACCEPTED, Effect(stage=Stage.HIRED)),
        (EventType.OFFER_DECLINED, Effect(needs_review=True)),
    ],
)
def test_fixed_effects_are_designs_table(event_type, effect):
    assert EVENT_EFFECTS[event_type] == effect


def test_answer_events_map_to_their_row_status():
    assert INTERVIEW_STATUS_BY_EVENT == {
        EventType.INTERVIEW_SCHEDULED: InterviewStatus.SCHEDULED,
        EventType.INTERVIEW_DECLINED: InterviewStatus.DECLINED,
        EventType.INTERVIEW_CANCELLED: InterviewStatus.CANCELLED,
    }
    assert OFFER_STATUS_BY_EVENT == {
        EventType.OFFER_ACCEPTED: OfferStatus.ACCEPTED,
        EventType.OFFER_DECLINED: OfferStatus.DECLINED,
    }


def test_accepted_offer_hires_from_offer_stage():
    assert apply_effect(Stage.OFFER, EVENT_EFFECTS[EventType.OFFER_ACCEPTED]).to_stage is Stage.HIRED


# --- screening --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "band"),
    [
        ("0", ScoreBand.WEAK),
        ("39.99", ScoreBand.WEAK),
        ("39.999999", ScoreBand.WEAK),
        ("40", ScoreBand.MODERATE),
        ("40.0", ScoreBand.MODERATE),
        ("69.99", ScoreBand.MODERATE),
        ("70", ScoreBand.STRONG),
        ("70.00", ScoreBand.STRONG),
        ("100", ScoreBand.STRONG),
    ],
)
def test_bands_at_their_boundaries(score, band):
    assert RULES.band(Decimal(score)) is band


def test_screening_outcomes_cover_every_pair_and_only_advance_strong_moves_on():
    assert set(SCREENING_OUTCOMES) == set(itertools.product(Recommendation, ScoreBand))
    for (recommendation, band), effect in SCREENING_OUTCOMES.items():
        if (recommendation, band) == (Recommendation.ADVANCE, ScoreBand.STRONG):
            assert effect == Effect(stage=Stage.ASSESSMENT, needs_review=False)
        else:
            assert effect == Effect(stage=Stage.SCREENING, needs_review=True)
        assert effect.stage is not Stage.REJECTED


def test_weak_reject_screening_never_rejects():
    band, effect = screening_effect(RULES, recommendation=Recommendation.REJECT, score=Decimal("5"))
    assert band is ScoreBand.WEAK
    assert apply_effect(Stage.NEW, effect).to_stage is Stage.SCREENING


def test_strong_advance_screening_moves_to_assessment():
    band, effect = screening_effect(RULES, recommendation=Recommendation.ADVANCE, score=Decimal("82.5"))
    assert band is ScoreBand.STRONG
    assert apply_effect(Stage.NEW, effect) == apply_effect(Stage.SCREENING, effect)
    assert apply_effect(Stage.SCREENING, effect).to_stage is Stage.ASSESSMENT


def test_late_screening_does_not_move_an_interviewed_candidate_back():
    _, effect = screening_effect(RULES, recommendation=Recommendation.REVIEW, score=Decimal(50))
    change = apply_effect(Stage.INTERVIEW, effect)
    assert change.to_stage is None
    assert change.set_needs_review is True


def test_bands_come_from_settings():
    settings = load_settings({**BASE, "SCORE_BANDS": '{"weak": 0, "moderate": 50, "strong": 80}'})
    rules = ScoringRules.from_settings(score_bands=settings.score_bands, pass_marks=settings.pass_marks)
    assert rules.band(Decimal("79.9")) is ScoreBand.MODERATE
    assert rules.band(Decimal("80")) is ScoreBand.STRONG
    assert rules.band(Decimal("49.9")) is ScoreBand.WEAK


# --- assessments ------------------------------------------------------------------------------

MARKS = ScoringRules(pass_marks={"default": Decimal(60), "coding": Decimal(70), "sql": Decimal("65.5")})


@pytest.mark.parametrize(
    ("assessment_type", "score", "max_score", "passed"),
    [
        ("personality", "60", "100", True),
        ("personality", "59.99", "100", False),
        ("coding", "70", "100", True),
        ("coding", "69.9", "100", False),
        ("coding", "14", "20", True),  # 70 %
        ("coding", "13.9", "20", False),
        ("sql", "65.5", "100", True),
        ("sql", "65.4", "100", False),
        ("default", "30", "50", True),
        ("language", "1", "3", False),  # 33.3… %: no division rounding decides it
        ("language", "1.8", "3", True),  # exactly 60 %
    ],
)
def test_pass_marks_per_assessment_type(assessment_type, score, max_score, passed):
    result, effect = assessment_effect(
        MARKS,
        status=AssessmentStatus.COMPLETED,
        score=Decimal(score),
        max_score=Decimal(max_score),
        assessment_type=assessment_type,
    )
    if passed:
        assert result is AssessmentResult.PASSED
        assert effect == Effect(stage=Stage.INTERVIEW)
    else:
        assert result is AssessmentResult.BELOW_PASS_MARK
        assert effect == Effect(needs_review=True)


def test_failed_assessment_leaves_the_stage_and_asks_for_review():
    result, effect = assessment_effect(
        RULES, status=AssessmentStatus.FAILED, score=None, max_score=Decimal(100), assessment_type="coding"
    )
    assert result is AssessmentResult.FAILED
    assert ASSESSMENT_OUTCOMES[result] == effect
    assert apply_effect(Stage.ASSESSMENT, effect) == apply_effect(Stage.ASSESSMENT, Effect(needs_review=True))
    assert apply_effect(Stage.ASSESSMENT, effect).to_stage is None


def test_default_pass_mark_is_60():
    assert RULES.pass_mark("anything") == Decimal(60)


def test_scoring_rules_refuse_incomplete_tables():
    with pytest.raises(ValueError, match="default"):
        ScoringRules(pass_marks={"coding": Decimal(1)})
    with pytest.raises(ValueError, match="bands"):
        ScoringRules(band_floors={ScoreBand.WEAK: Decimal(0)})


# --- interviews -------------------------------------------------------------------------------

S = InterviewStatus


@pytest.mark.parametrize(
    ("current", "new", "applies"),
    [
        (S.REQUESTED, S.SCHEDULED, True),
        (S.PENDING, S.SCHEDULED, True),
        (S.PENDING, S.DECLINED, True),
        (S.SCHEDULED, S.CANCELLED, True),
        (S.SCHEDULED, S.DECLINED, True),
        (S.DECLINED, S.SCHEDULED, False),
        (S.CANCELLED, S.SCHEDULED, False),
        (S.FAILED, S.SCHEDULED, True),
    ],
)
def test_interview_status_precedence(current, new, applies):
    # Precedence beats time: a higher status wins even from an older envelope.
    assert interview_update_applies(current, T0, new, T0 - timedelta(hours=1)) is applies
    assert interview_update_applies(current, T0, new, T0 + timedelta(hours=1)) is applies


def test_later_scheduled_replaces_an_earlier_one_and_not_the_reverse():
    assert interview_update_applies(S.SCHEDULED, T0, S.SCHEDULED, T0 + timedelta(seconds=1)) is True
    assert interview_update_applies(S.SCHEDULED, T0, S.SCHEDULED, T0 - timedelta(seconds=1)) is False


def test_the_same_answer_again_does_not_apply():
    assert interview_update_applies(S.SCHEDULED, T0, S.SCHEDULED, T0) is False
    assert interview_update_applies(S.DECLINED, T0, S.DECLINED, T0) is False


def test_declined_and_cancelled_are_equal_so_the_later_envelope_wins():
    assert interview_update_applies(S.DECLINED, T0, S.CANCELLED, T0 + timedelta(minutes=1)) is True
    assert interview_update_applies(S.CANCELLED, T0, S.DECLINED, T0 + timedelta(minutes=1)) is True
    assert interview_update_applies(S.CANCELLED, T0, S.DECLINED, T0 - timedelta(minutes=1)) is False


def test_no_row_or_a_row_without_event_time_gives_way():
    assert interview_update_applies(None, None, S.DECLINED, T0) is True
    assert interview_update_applies(S.PENDING, None, S.SCHEDULED, T0) is True


answers = st.lists(
    st.tuples(
        st.sampled_from([S.SCHEDULED, S.DECLINED, S.CANCELLED]),
        st.integers(min_value=0, max_value=50).map(lambda m: T0 + timedelta(minutes=m)),
    ),
    min_size=1,
    max_size=8,
)


def _final(events: list[tuple[InterviewStatus, datetime]]) -> tuple[InterviewStatus, datetime | None]:
    status: InterviewStatus = S.PENDING
    at: datetime | None = None
    for new_status, new_at in events:
        if interview_update_applies(status, at, new_status, new_at):
            status, at = new_status, new_at
    return status, at


@given(answers, st.randoms(use_true_random=False))
def test_property_interview_final_state_does_not_depend_on_arrival_order(events, rng):
    shuffled = list(events)
    rng.shuffle(shuffled)
    assert _final(events) == _final(shuffled)
