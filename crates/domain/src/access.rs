//! Who may do what: the roles of 等保 2.0's separated administration and of the community's
//! staff, and the one permission matrix every route is checked against. Deny unless listed here.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SystemAdmin,
    SecurityAdmin,
    AuditAdmin,
    SubdistrictLeader,
    CommunityTaskForce,
    GridWorker,
    Informant,
    PropertyStaff,
    CommunityPolice,
    ImmigrationOfficer,
    Volunteer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See the org tree (区, 街道, 社区, 网格) — no personal data.
    OrgView,
    /// See standard addresses and housing units.
    HousingRead,
    /// See people and where they live: personal data.
    PersonRead,
    /// Add and edit addresses, housing, people and residences.
    RegistryWrite,
    /// Show a whole ID, passport or phone number on screen, with a typed reason (audited).
    PersonUnmask,
    /// Merge two records of the same person, and undo a merge (audited).
    PersonMerge,
    /// Export people of an area to CSV or .xlsx, with a typed reason (audited, watermarked).
    PersonExport,
    /// Import ledgers of people and where they live.
    RegistryImport,
    /// Create, disable and reset accounts (system admin).
    AccountManage,
    /// Unlock accounts and reset second factors (security admin).
    SecurityManage,
    /// Read the audit log (audit admin only).
    AuditRead,
    /// Walk patrols: start, record visits with photos, end (grid workers).
    PatrolWork,
    /// See each grid's patrols against what the day requires.
    PatrolBoard,
    /// Declare an extreme-weather alert, which raises the patrols required.
    AlertManage,
    /// Enter a tip received by phone or in person.
    TipEnter,
    /// See clues, their timelines and the inbox.
    ClueRead,
    /// Take a step on a clue (the workflow also checks the stage's role) or raise one.
    ClueWork,
    /// Export the clue list (never with reporters' identities).
    ClueExport,
    /// See who reported a tip, and people routed to protection: police roles only.
    ReporterIdentity,
    /// Run a drill with simulated clues.
    DrillRun,
    /// Review comparison flags in one's area: confirm into a clue or a correction, or dismiss.
    FlagReview,
    /// Receive outside sources (other departments' lists) and follow their comparison.
    SourceManage,
    /// See people routed to protection as possible victims of trafficking or exploitation:
    /// police roles only; everyone else finds no such person.
    ProtectedPersonRead,
}

use Permission::*;

/// The permission matrix. The three admin roles hold no personal-data permission.
const MATRIX: &[(Role, &[Permission])] = &[
    (Role::SystemAdmin, &[OrgView, AccountManage]),
    (Role::SecurityAdmin, &[OrgView, SecurityManage]),
    (Role::AuditAdmin, &[AuditRead]),
    (Role::SubdistrictLeader, &[OrgView, HousingRead, PersonRead, PatrolBoard, AlertManage, ClueRead, ClueExport, DrillRun]),
    (
        Role::CommunityTaskForce,
        &[
            OrgView,
            HousingRead,
            PersonRead,
            RegistryWrite,
            PersonUnmask,
            PersonMerge,
            PersonExport,
            RegistryImport,
            PatrolBoard,
            AlertManage,
            TipEnter,
            ClueRead,
            ClueWork,
            ClueExport,
            DrillRun,
            FlagReview,
            SourceManage,
        ],
    ),
    (Role::GridWorker, &[OrgView, HousingRead, PersonRead, RegistryWrite, PatrolWork, TipEnter, ClueRead, ClueWork, FlagReview]),
    (Role::Informant, &[OrgView]),
    (Role::PropertyStaff, &[OrgView, HousingRead]),
    (
        Role::CommunityPolice,
        &[
            OrgView,
            HousingRead,
            PersonRead,
            RegistryWrite,
            PersonUnmask,
            PersonMerge,
            PersonExport,
            RegistryImport,
            PatrolBoard,
            TipEnter,
            ClueRead,
            ClueWork,
            ClueExport,
            ReporterIdentity,
            ProtectedPersonRead,
            FlagReview,
            SourceManage,
        ],
    ),
    (
        Role::ImmigrationOfficer,
        &[
            OrgView,
            HousingRead,
            PersonRead,
            RegistryWrite,
            PersonUnmask,
            PersonExport,
            RegistryImport,
            ClueRead,
            ClueWork,
            ClueExport,
            ReporterIdentity,
            ProtectedPersonRead,
            FlagReview,
            SourceManage,
        ],
    ),
    (Role::Volunteer, &[OrgView]),
];

impl Role {
    pub const ALL: [Role; 11] = [
        Role::SystemAdmin,
        Role::SecurityAdmin,
        Role::AuditAdmin,
        Role::SubdistrictLeader,
        Role::CommunityTaskForce,
        Role::GridWorker,
        Role::Informant,
        Role::PropertyStaff,
        Role::CommunityPolice,
        Role::ImmigrationOfficer,
        Role::Volunteer,
    ];

    pub fn can(self, p: Permission) -> bool {
        MATRIX.iter().any(|(r, ps)| *r == self && ps.contains(&p))
    }

    /// Roles that must pass a TOTP second factor to get a session.
    pub fn requires_second_factor(self) -> bool {
        matches!(self, Role::SystemAdmin | Role::SecurityAdmin | Role::AuditAdmin | Role::CommunityPolice | Role::ImmigrationOfficer)
    }

    pub fn code(self) -> &'static str {
        match self {
            Role::SystemAdmin => "system_admin",
            Role::SecurityAdmin => "security_admin",
            Role::AuditAdmin => "audit_admin",
            Role::SubdistrictLeader => "subdistrict_leader",
            Role::CommunityTaskForce => "community_task_force",
            Role::GridWorker => "grid_worker",
            Role::Informant => "informant",
            Role::PropertyStaff => "property_staff",
            Role::CommunityPolice => "community_police",
            Role::ImmigrationOfficer => "immigration_officer",
            Role::Volunteer => "volunteer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_is_in_the_matrix_once() {
        for r in Role::ALL {
            assert_eq!(MATRIX.iter().filter(|(m, _)| *m == r).count(), 1, "{r:?}");
            assert_eq!(Role::parse(r.code()), Some(r));
        }
    }

    #[test]
    fn admins_are_separated_and_read_no_personal_data() {
        for admin in [Role::SystemAdmin, Role::SecurityAdmin, Role::AuditAdmin] {
            assert!(!admin.can(PersonRead) && !admin.can(HousingRead) && !admin.can(RegistryWrite) && !admin.can(PersonUnmask));
            assert!(admin.requires_second_factor());
        }
        let audit_readers: Vec<Role> = Role::ALL.into_iter().filter(|r| r.can(AuditRead)).collect();
        assert_eq!(audit_readers, vec![Role::AuditAdmin]);
        assert!(!Role::SystemAdmin.can(SecurityManage) && !Role::SecurityAdmin.can(AccountManage));
    }

    #[test]
    fn only_police_roles_see_who_reported() {
        let readers: Vec<Role> = Role::ALL.into_iter().filter(|r| r.can(ReporterIdentity)).collect();
        assert_eq!(readers, vec![Role::CommunityPolice, Role::ImmigrationOfficer]);
        let protectors: Vec<Role> = Role::ALL.into_iter().filter(|r| r.can(ProtectedPersonRead)).collect();
        assert_eq!(protectors, readers);
        for admin in [Role::SystemAdmin, Role::SecurityAdmin, Role::AuditAdmin] {
            assert!(!admin.can(ClueRead) && !admin.can(PatrolBoard));
        }
    }

    #[test]
    fn leaders_read_but_do_not_write() {
        assert!(Role::SubdistrictLeader.can(PersonRead));
        assert!(!Role::SubdistrictLeader.can(RegistryWrite));
    }

    #[test]
    fn only_police_immigration_and_the_task_force_unmask() {
        let unmaskers: Vec<Role> = Role::ALL.into_iter().filter(|r| r.can(PersonUnmask)).collect();
        assert_eq!(unmaskers, vec![Role::CommunityTaskForce, Role::CommunityPolice, Role::ImmigrationOfficer]);
        assert!(unmaskers.iter().all(|r| r.can(PersonRead)));
    }
}
