//! The clue workflow of the work plan: initial check within 1 hour, recheck within 4 hours and
//! disposal within 24 hours of receipt, each by its own role; red, yellow and blue warnings.
//! Pure: callers pass the time. Nothing here acts on a person: it only says what may happen next.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::FieldErrors;
use crate::access::Role;
use crate::registry::{code_enum, text};

code_enum!(
    /// Where a clue stands. A new clue enters `InitialCheck` at once; each open stage has a
    /// deadline counted from receipt, and its own roles.
    Stage {
        InitialCheck = "initial_check",
        Recheck = "recheck",
        Disposal = "disposal",
        Closed = "closed",
        Dismissed = "dismissed",
    }
);

code_enum!(
    /// 红 / 黄 / 蓝 预警.
    Warning {
        /// Suspected concentrated hiding (疑似集中藏匿).
        Red = "red",
        /// Registration anomalies.
        Yellow = "yellow",
        /// Short-term tenant churn.
        Blue = "blue",
    }
);

code_enum!(
    /// Where a clue came from.
    Source {
        Tip = "tip",
        Patrol = "patrol",
        RegistryFlag = "registry_flag",
        Staff = "staff",
    }
);

code_enum!(
    /// What came of a clue. Several may apply; the referrals are for the people in it.
    Outcome {
        ReferLegalAid = "refer_legal_aid",
        ReferEmployment = "refer_employment",
        ReferMedical = "refer_medical",
        ReferShelter = "refer_shelter",
        /// Possible victim of trafficking or exploitation: routes to protection and hides the
        /// person from every role but the police ones.
        PossibleVictim = "possible_victim",
        RegistrationCorrected = "registration_corrected",
        HandedToPolice = "handed_to_police",
        HandedToImmigration = "handed_to_immigration",
        Unfounded = "unfounded",
    }
);

code_enum!(
    /// Why a clue was dismissed.
    DismissReason {
        Unfounded = "unfounded",
        Malicious = "malicious",
        Duplicate = "duplicate",
        Other = "other",
    }
);

/// The deadline of each open stage, counted from the clue's receipt (1 h / 4 h / 24 h).
pub fn stage_window(stage: Stage) -> Option<Duration> {
    match stage {
        Stage::InitialCheck => Some(Duration::hours(1)),
        Stage::Recheck => Some(Duration::hours(4)),
        Stage::Disposal => Some(Duration::hours(24)),
        Stage::Closed | Stage::Dismissed => None,
    }
}

/// A red warning must be reported to the subdistrict within 24 hours of being raised.
pub const RED_REPORT_WINDOW: Duration = Duration::hours(24);

impl Stage {
    pub fn is_open(self) -> bool {
        stage_window(self).is_some()
    }

    pub fn due(self, received: DateTime<Utc>) -> Option<DateTime<Utc>> {
        stage_window(self).map(|w| received + w)
    }

    /// The stage after this one is done.
    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::InitialCheck => Some(Stage::Recheck),
            Stage::Recheck => Some(Stage::Disposal),
            Stage::Disposal => Some(Stage::Closed),
            Stage::Closed | Stage::Dismissed => None,
        }
    }

    /// Who does this stage: the grid worker (with property staff) checks first, the community
    /// task force rechecks with police, police or immigration dispose. A community task force
    /// may take over an initial check that was escalated to it.
    pub fn assignees(self) -> &'static [Role] {
        match self {
            Stage::InitialCheck => &[Role::GridWorker, Role::CommunityTaskForce],
            Stage::Recheck => &[Role::CommunityTaskForce, Role::CommunityPolice],
            Stage::Disposal => &[Role::CommunityPolice, Role::ImmigrationOfficer],
            Stage::Closed | Stage::Dismissed => &[],
        }
    }

    /// The role whose inbox lists clues waiting in this stage.
    pub fn inbox_role(self) -> Option<Role> {
        match self {
            Stage::InitialCheck => Some(Role::GridWorker),
            Stage::Recheck => Some(Role::CommunityTaskForce),
            Stage::Disposal => Some(Role::CommunityPolice),
            Stage::Closed | Stage::Dismissed => None,
        }
    }

    /// Who is told when this stage misses its deadline: the next level up.
    pub fn escalates_to(self) -> Option<Role> {
        match self {
            Stage::InitialCheck => Some(Role::CommunityTaskForce),
            Stage::Recheck | Stage::Disposal => Some(Role::SubdistrictLeader),
            Stage::Closed | Stage::Dismissed => None,
        }
    }

    /// The public status a reporter sees with a receipt code, and nothing more.
    pub fn public_status(self) -> &'static str {
        match self {
            Stage::InitialCheck | Stage::Recheck | Stage::Disposal => "checking",
            Stage::Closed | Stage::Dismissed => "closed",
        }
    }
}

/// Whether `role` may work on a clue in `stage` (move it on or dismiss it).
pub fn may_act(role: Role, stage: Stage) -> bool {
    stage.assignees().contains(&role)
}

/// Whether `role` may change a warning level or report a red one to the subdistrict.
pub fn may_set_warning(role: Role) -> bool {
    matches!(role, Role::CommunityTaskForce | Role::CommunityPolice | Role::ImmigrationOfficer)
}

/// Free text of one step: findings of a check, a dismissal note, the reason for a new warning.
fn note(errors: &mut FieldErrors, field: &'static str, raw: &str, required: bool) -> String {
    let v = text(errors, field, raw, required, 2000);
    if required && errors.for_field(field).is_none() && v.chars().count() < 2 {
        errors.add(field, "err.too_short");
    }
    v
}

/// A step someone takes on a clue, as typed into its page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StepInput {
    /// `advance`, `dismiss`, `warning` or `report_red`.
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub warning: String,
    /// Outcome codes, comma-separated (from the disposal form's checkboxes).
    #[serde(default)]
    pub outcomes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The current stage is done; the clue moves to the next one. At disposal, the outcomes.
    Advance {
        note: String,
        outcomes: Vec<Outcome>,
    },
    Dismiss {
        reason: DismissReason,
        note: String,
    },
    ChangeWarning {
        to: Warning,
        reason: String,
    },
    /// The red warning was reported to the subdistrict.
    ReportRed {
        note: String,
    },
}

/// A clue as the workflow needs to see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClueState {
    pub stage: Stage,
    pub warning: Warning,
    pub received: DateTime<Utc>,
    pub red_reported: bool,
}

/// What a step does to a clue, for the store to write in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub stage: Stage,
    pub warning: Warning,
    /// The event's kind in the clue's timeline.
    pub event: &'static str,
    pub note: String,
    pub outcomes: Vec<Outcome>,
    /// The deadline now running, if any.
    pub due: Option<DateTime<Utc>>,
    /// Set when the step raises a red warning: its report to the subdistrict is due then.
    pub red_report_due: Option<DateTime<Utc>>,
    pub red_reported: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("this role may not take this step at this stage")]
    NotYours,
    #[error("the clue is finished")]
    Finished,
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
}

impl StepInput {
    pub fn validate(&self) -> Result<Step, FieldErrors> {
        let mut errors = FieldErrors::new();
        let step = match self.action.trim() {
            "advance" => {
                let note = note(&mut errors, "note", &self.note, true);
                let mut outcomes = vec![];
                for code in self.outcomes.iter().flat_map(|o| o.split(',')).map(str::trim).filter(|c| !c.is_empty()) {
                    match Outcome::parse(code) {
                        Some(o) if !outcomes.contains(&o) => outcomes.push(o),
                        Some(_) => {}
                        None => errors.add("outcomes", "err.choice"),
                    }
                }
                Step::Advance { note, outcomes }
            }
            "dismiss" => {
                let reason = DismissReason::parse(&self.reason);
                if reason.is_none() {
                    errors.add("reason", "err.choice");
                }
                let note = note(&mut errors, "note", &self.note, true);
                Step::Dismiss { reason: reason.unwrap_or(DismissReason::Other), note }
            }
            "warning" => {
                let to = Warning::parse(&self.warning);
                if to.is_none() {
                    errors.add("warning", "err.choice");
                }
                let reason = note(&mut errors, "note", &self.note, true);
                Step::ChangeWarning { to: to.unwrap_or(Warning::Blue), reason }
            }
            "report_red" => Step::ReportRed { note: note(&mut errors, "note", &self.note, false) },
            _ => {
                errors.add("action", "err.choice");
                Step::ReportRed { note: String::new() }
            }
        };
        errors.into_result(step)
    }
}

/// Applies `step`, taken by `role` at `now`, to `clue`: the rule of the workflow in one place.
pub fn apply(clue: ClueState, role: Role, step: Step, now: DateTime<Utc>) -> Result<Transition, StepError> {
    if !clue.stage.is_open() {
        return Err(StepError::Finished);
    }
    let base = Transition {
        stage: clue.stage,
        warning: clue.warning,
        event: "",
        note: String::new(),
        outcomes: vec![],
        due: clue.stage.due(clue.received),
        red_report_due: None,
        red_reported: clue.red_reported,
    };
    match step {
        Step::Advance { note, outcomes } => {
            if !may_act(role, clue.stage) {
                return Err(StepError::NotYours);
            }
            let next = clue.stage.next().ok_or(StepError::Finished)?;
            let mut errors = FieldErrors::new();
            if next == Stage::Closed && outcomes.is_empty() {
                errors.add("outcomes", "err.outcome_required");
            }
            if next != Stage::Closed && !outcomes.is_empty() {
                errors.add("outcomes", "err.outcome_at_disposal");
            }
            if !errors.is_empty() {
                return Err(StepError::Invalid(errors));
            }
            let event = match clue.stage {
                Stage::InitialCheck => "initial_check_done",
                Stage::Recheck => "recheck_done",
                _ => "disposed",
            };
            Ok(Transition { stage: next, event, note, outcomes, due: next.due(clue.received), ..base })
        }
        Step::Dismiss { reason, note } => {
            if !may_act(role, clue.stage) {
                return Err(StepError::NotYours);
            }
            Ok(Transition { stage: Stage::Dismissed, event: "dismissed", note: format!("{}: {note}", reason.code()), due: None, ..base })
        }
        Step::ChangeWarning { to, reason } => {
            if !may_set_warning(role) {
                return Err(StepError::NotYours);
            }
            if to == clue.warning {
                let mut e = FieldErrors::new();
                e.add("warning", "err.unchanged");
                return Err(StepError::Invalid(e));
            }
            let red_report_due = (to == Warning::Red && !clue.red_reported).then(|| now + RED_REPORT_WINDOW);
            Ok(Transition {
                warning: to,
                event: "warning_changed",
                note: format!("{} → {}: {reason}", clue.warning.code(), to.code()),
                red_report_due,
                ..base
            })
        }
        Step::ReportRed { note } => {
            if !may_set_warning(role) {
                return Err(StepError::NotYours);
            }
            if clue.warning != Warning::Red || clue.red_reported {
                let mut e = FieldErrors::new();
                e.add("action", "err.not_red");
                return Err(StepError::Invalid(e));
            }
            Ok(Transition { event: "red_reported", note, red_reported: true, ..base })
        }
    }
}

/// One finished (or still open) clue's times, for the response-time and solve-rate figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClueTimes {
    pub received: DateTime<Utc>,
    pub initial_check: Option<DateTime<Utc>>,
    pub recheck: Option<DateTime<Utc>>,
    pub disposal: Option<DateTime<Utc>>,
    pub stage: Stage,
    pub outcomes: Vec<Outcome>,
}

/// Response times and rates over a set of clues.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub clues: usize,
    pub open: usize,
    /// Per stage (initial check, recheck, disposal): how many were done, the median minutes
    /// from receipt, and how many met their deadline.
    pub stages: [StageFigures; 3],
    /// Closed with an outcome other than "unfounded", over all finished clues.
    pub solved: usize,
    pub finished: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StageFigures {
    pub done: usize,
    pub median_minutes: Option<i64>,
    pub on_time: usize,
}

impl Figures {
    pub fn solve_rate(&self) -> Option<f64> {
        (self.finished > 0).then(|| self.solved as f64 / self.finished as f64)
    }
}

pub fn figures(clues: &[ClueTimes]) -> Figures {
    let mut f = Figures { clues: clues.len(), ..Default::default() };
    let stages = [Stage::InitialCheck, Stage::Recheck, Stage::Disposal];
    for (i, stage) in stages.iter().enumerate() {
        let mut minutes: Vec<i64> = vec![];
        let mut on_time = 0;
        for c in clues {
            let done = [c.initial_check, c.recheck, c.disposal][i];
            if let Some(t) = done {
                minutes.push((t - c.received).num_minutes());
                if stage.due(c.received).is_some_and(|d| t <= d) {
                    on_time += 1;
                }
            }
        }
        minutes.sort_unstable();
        f.stages[i] = StageFigures { done: minutes.len(), median_minutes: minutes.get(minutes.len() / 2).copied(), on_time };
    }
    for c in clues {
        match c.stage {
            Stage::Closed => {
                f.finished += 1;
                if c.outcomes.iter().any(|o| *o != Outcome::Unfounded) {
                    f.solved += 1;
                }
            }
            Stage::Dismissed => f.finished += 1,
            _ => f.open += 1,
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).single().expect("time")
    }

    fn clue(stage: Stage) -> ClueState {
        ClueState { stage, warning: Warning::Yellow, received: t0(), red_reported: false }
    }

    fn advance(note: &str) -> Step {
        Step::Advance { note: note.into(), outcomes: vec![] }
    }

    #[test]
    fn deadlines_run_from_receipt() {
        assert_eq!(Stage::InitialCheck.due(t0()), Some(t0() + Duration::hours(1)));
        assert_eq!(Stage::Recheck.due(t0()), Some(t0() + Duration::hours(4)));
        assert_eq!(Stage::Disposal.due(t0()), Some(t0() + Duration::hours(24)));
        assert_eq!(Stage::Closed.due(t0()), None);
    }

    #[test]
    fn each_stage_belongs_to_its_roles() {
        let now = t0() + Duration::minutes(30);
        let t = apply(clue(Stage::InitialCheck), Role::GridWorker, advance("查看了房屋"), now).expect("grid worker checks");
        assert_eq!((t.stage, t.event, t.due), (Stage::Recheck, "initial_check_done", Some(t0() + Duration::hours(4))));
        assert_eq!(apply(clue(Stage::InitialCheck), Role::CommunityPolice, advance("x1"), now), Err(StepError::NotYours));
        assert_eq!(apply(clue(Stage::Recheck), Role::GridWorker, advance("x1"), now), Err(StepError::NotYours));
        assert_eq!(apply(clue(Stage::Disposal), Role::CommunityTaskForce, advance("x1"), now), Err(StepError::NotYours));
        assert_eq!(apply(clue(Stage::Closed), Role::CommunityPolice, advance("x1"), now), Err(StepError::Finished));
        assert_eq!(
            apply(clue(Stage::Recheck), Role::CommunityTaskForce, advance("与民警复核"), now).expect("recheck").stage,
            Stage::Disposal
        );
    }

    #[test]
    fn disposal_needs_an_outcome_and_only_disposal_takes_one() {
        let now = t0() + Duration::hours(5);
        let e = apply(clue(Stage::Disposal), Role::CommunityPolice, advance("处置"), now).expect_err("no outcome");
        assert!(matches!(e, StepError::Invalid(ref f) if f.for_field("outcomes") == Some("err.outcome_required")));
        let step = Step::Advance { note: "转介".into(), outcomes: vec![Outcome::ReferLegalAid, Outcome::PossibleVictim] };
        let t = apply(clue(Stage::Disposal), Role::ImmigrationOfficer, step.clone(), now).expect("dispose");
        assert_eq!((t.stage, t.due, t.outcomes.len()), (Stage::Closed, None, 2));
        assert!(matches!(apply(clue(Stage::InitialCheck), Role::GridWorker, step, now), Err(StepError::Invalid(_))));
    }

    #[test]
    fn dismissal_needs_a_reason_at_any_stage() {
        let input =
            StepInput { action: "dismiss".into(), reason: "malicious".into(), note: "多次恶意举报".into(), ..Default::default() };
        let step = input.validate().expect("valid");
        for (stage, role) in
            [(Stage::InitialCheck, Role::GridWorker), (Stage::Recheck, Role::CommunityTaskForce), (Stage::Disposal, Role::CommunityPolice)]
        {
            let t = apply(clue(stage), role, step.clone(), t0()).expect("dismiss");
            assert_eq!((t.stage, t.due), (Stage::Dismissed, None));
            assert!(t.note.starts_with("malicious"));
        }
        let bad = StepInput { action: "dismiss".into(), reason: "".into(), note: "".into(), ..Default::default() }
            .validate()
            .expect_err("no reason");
        assert_eq!((bad.for_field("reason"), bad.for_field("note")), (Some("err.choice"), Some("err.required")));
    }

    #[test]
    fn a_red_warning_starts_its_report_clock_and_is_reported_once() {
        let now = t0() + Duration::hours(2);
        let step = Step::ChangeWarning { to: Warning::Red, reason: "多人集中居住".into() };
        assert_eq!(apply(clue(Stage::Recheck), Role::GridWorker, step.clone(), now), Err(StepError::NotYours));
        let t = apply(clue(Stage::Recheck), Role::CommunityTaskForce, step, now).expect("red");
        assert_eq!((t.warning, t.red_report_due), (Warning::Red, Some(now + Duration::hours(24))));
        let red = ClueState { warning: Warning::Red, ..clue(Stage::Recheck) };
        let r = apply(red, Role::CommunityPolice, Step::ReportRed { note: String::new() }, now).expect("report");
        assert!(r.red_reported);
        let again = ClueState { red_reported: true, ..red };
        assert!(matches!(apply(again, Role::CommunityPolice, Step::ReportRed { note: String::new() }, now), Err(StepError::Invalid(_))));
        let same = Step::ChangeWarning { to: Warning::Red, reason: "同上".into() };
        assert!(matches!(apply(red, Role::CommunityPolice, same, now), Err(StepError::Invalid(_))));
    }

    #[test]
    fn figures_count_deadlines_met_and_solved_clues() {
        let c = |ic: i64, rc: Option<i64>, stage, outcomes| ClueTimes {
            received: t0(),
            initial_check: Some(t0() + Duration::minutes(ic)),
            recheck: rc.map(|m| t0() + Duration::minutes(m)),
            disposal: None,
            stage,
            outcomes,
        };
        let f = figures(&[
            c(30, Some(200), Stage::Closed, vec![Outcome::ReferMedical]),
            c(90, None, Stage::Closed, vec![Outcome::Unfounded]),
            c(10, None, Stage::Recheck, vec![]),
        ]);
        assert_eq!((f.clues, f.open, f.finished, f.solved), (3, 1, 2, 1));
        assert_eq!((f.stages[0].done, f.stages[0].on_time, f.stages[0].median_minutes), (3, 2, Some(30)));
        assert_eq!((f.stages[1].done, f.stages[1].on_time), (1, 1));
        assert_eq!(f.solve_rate(), Some(0.5));
    }
}
