"""STAGE_RULES: the stage tables are data a deployment can change, within guardrails."""

from decimal import Decimal

import pytest

from shared.contract.events import EventType, Recommendation
from shared.errors import ConfigurationError
from shared.rules import AssessmentResult, Effect, ScoreBand, ScoringRules, Stage, screening_effect
from shared.settings import load_settings
from tests.unit.test_settings import BASE


def rules(overrides):
    return ScoringRules.from_settings(
        score_bands={"weak": Decimal(0), "moderate": Decimal(40), "strong": Decimal(70)},
        pass_marks={"default": Decimal(60)},
        stage_rules=overrides,
    )


def test_without_overrides_the_designs_tables_apply():
    default = rules({})
    assert screening_effect(default, recommendation=Recommendation.ADVANCE, score=Decimal(55))[1] == Effect(
        Stage.SCREENING, needs_review=True
    )


def test_an_override_changes_only_its_entry():
    custom = rules(
        {
            "screening": {"advance/moderate": {"stage": "assessment"}},
            "events": {"interview.declined": {"stage": None, "needs_review": False}},
            "assessment": {"below_pass_mark": {"needs_review": True}},
        }
    )
    assert custom.screening_outcomes[(Recommendation.ADVANCE, ScoreBand.MODERATE)] == Effect(Stage.ASSESSMENT)
    assert custom.screening_outcomes[(Recommendation.ADVANCE, ScoreBand.WEAK)] == Effect(
        Stage.SCREENING, needs_review=True
    )
    assert custom.event_effects[EventType.INTERVIEW_DECLINED] == Effect()
    assert custom.event_effects[EventType.OFFER_ACCEPTED] == Effect(Stage.HIRED)
    assert custom.assessment_outcomes[AssessmentResult.BELOW_PASS_MARK] == Effect(needs_review=True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"screening": {"reject/weak": {"stage": "rejected"}}}, "may not set the stage 'rejected'"),
        ({"events": {"candidate.created": {"stage": "new"}}}, "may not set the stage 'new'"),
        ({"events": {"offer.declined": {"stage": "withdrawn"}}}, "may not set the stage 'withdrawn'"),
        ({"assessment": {"failed": {"stage": "withdrawn"}}}, "may not set the stage 'withdrawn'"),
        ({"events": {"candidate.withdrawn": {"needs_review": True}}}, "candidate.withdrawn. is fixed"),
        ({"events": {"screening.completed": {"stage": "assessment"}}}, "decided by the screening"),
        ({"events": {"candidate.teleported": {}}}, "not an event type"),
        ({"screening": {"advance-strong": {}}}, "not 'recommendation/band'"),
        ({"assessment": {"aced": {}}}, "not an assessment result"),
        ({"assessment": {"passed": {"stage": "promoted"}}}, "'promoted' is not a stage"),
        ({"assessment": {"passed": {"needs_review": "yes"}}}, "needs_review must be true or false"),
        ({"workflows": {}}, "unknown section"),
    ],
)
def test_a_bad_rule_stops_the_start_naming_it(overrides, message):
    import json

    with pytest.raises(ConfigurationError, match=message):
        load_settings({**BASE, "STAGE_RULES": json.dumps(overrides)})


def test_the_setting_round_trips():
    settings = load_settings(
        {**BASE, "STAGE_RULES": '{"screening": {"advance/moderate": {"stage": "assessment"}}}'}
    )
    assert settings.stage_rules == {"screening": {"advance/moderate": {"stage": "assessment"}}}
