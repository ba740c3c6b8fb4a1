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
	CreatedAt         time.Time
	UpdatedAt         time.Time
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
