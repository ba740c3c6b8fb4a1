package models

import "time"

// Role is a staff member's role; access rules are written in terms of roles.
type Role string

const (
	RoleAdmin      Role = "admin"
	RoleOperator   Role = "operator"
	RoleCompliance Role = "compliance"
	RoleSupport    Role = "support"
)

// Roles lists every role in the order the UI shows them.
var Roles = []Role{RoleAdmin, RoleOperator, RoleCompliance, RoleSupport}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	for _, known := range Roles {
		if r == known {
			return true
		}
	}
	return false
}

// User is a staff account.
type User struct {
	ID                uint `gorm:"primaryKey"`
	Email             string
	Name              string
	Role              Role
	PasswordHash      string
	Disabled          bool
	PasswordChangedAt time.Time
	// The second factor: sealed TOTP secrets (see services/accounts).
	TOTPSecret    string     `gorm:"column:totp_secret"`
	TOTPPending   string     `gorm:"column:totp_pending"`
	TOTPLastStep  int64      `gorm:"column:totp_last_step"`
	TOTPEnabledAt *time.Time `gorm:"column:totp_enabled_at"`
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// HasSecondFactor reports whether the user signs in with a code as well.
func (u User) HasSecondFactor() bool { return u.TOTPSecret != "" }

// RequiresSecondFactor reports whether the role must sign in with a code:
// admins manage staff and see everything, compliance sees unmasked NINs and
// portraits.
func (r Role) RequiresSecondFactor() bool { return r == RoleAdmin || r == RoleCompliance }

// SignInNeedsSecondStep reports whether a right password is only half a
// sign-in: the user signs in with a code, or their role requires one and they
// must set it up before they get in.
func (u User) SignInNeedsSecondStep() bool {
	return u.HasSecondFactor() || u.Role.RequiresSecondFactor()
}

// RecoveryCode is one single-use code that stands in for the authenticator;
// only its hash is kept.
type RecoveryCode struct {
	ID        uint `gorm:"primaryKey"`
	UserID    uint
	CodeHash  string
	UsedAt    *time.Time
	CreatedAt time.Time
}

// Session is a server-side login session; the cookie holds only the id whose
// hash is IDHash.
type Session struct {
	IDHash     string `gorm:"primaryKey"`
	UserID     *uint
	Data       string
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// AuditEvent is one row of the append-only audit log.
type AuditEvent struct {
	ID         uint `gorm:"primaryKey"`
	At         time.Time
	ActorID    *uint
	ActorEmail string
	Action     string
	Subject    string
	IP         string `gorm:"column:ip"`
	Details    string
}

// LoginAttempt feeds login throttling.
type LoginAttempt struct {
	ID      uint `gorm:"primaryKey"`
	At      time.Time
	Email   string
	IP      string `gorm:"column:ip"`
	Success bool
}
