// Package seed fills a portal database with a realistic year of records for
// load tests (cmd/seed, `make bench-load`): n recharges, n documents (two
// signees each) and n verifications, one every 30 seconds up to end, in a
// few set-based statements (seconds per million rows, not minutes).
//
// The shape is what a running portal accumulates: old records are final,
// only the last few thousand are still open or waiting for review, one in
// a thousand needs attention. Ids are sequential from 1, so a load test
// can ask for any id in 1..n.
package seed

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"portal/models"
)

// Spacing is the time between two records of one kind.
const Spacing = 30 * time.Second

// Known values a load test can search for, present in every seed of at
// least 100,000 rows.
const (
	ExactDevice  = "68750000000012" // a device id (many recharges)
	DevicePrefix = "6875"           // matches most recharges
	PhonePrefix  = "+2547000012"    // the start of a few hundred customers' numbers
	NINPrefix    = "1234567"        // the start of some signers' NINs
)

// sql writes the statements for one dialect: the row generator, zero
// padding and timestamps differ between SQLite and PostgreSQL.
type sql struct {
	pg  bool
	n   int
	end time.Time
}

// rows is the FROM of n generated rows numbered i = 1..n.
func (s sql) rows() string {
	if s.pg {
		return "FROM generate_series(1, " + strconv.Itoa(s.n) + ") AS g(i)"
	}
	return "FROM (WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < " + strconv.Itoa(s.n) + ") SELECT i FROM g)"
}

// pad is expr as decimal text, zero-padded to width.
func (s sql) pad(expr string, width int) string {
	if s.pg {
		return fmt.Sprintf("lpad((%s)::text, %d, '0')", expr, width)
	}
	return fmt.Sprintf("printf('%%0%dd', %s)", width, expr)
}

// at is the timestamp of row i plus extra seconds.
func (s sql) at(extra string) string {
	age := fmt.Sprintf("((%d - i) * %d - (%s))", s.n, int(Spacing.Seconds()), extra)
	if s.pg {
		return fmt.Sprintf("(TIMESTAMPTZ '%s' - %s * INTERVAL '1 second')", s.end.UTC().Format("2006-01-02 15:04:05+00"), age)
	}
	// With the zone, as the driver writes a UTC time: lists sorted by a
	// time compare its text.
	return fmt.Sprintf("(datetime('%s', '-' || %s || ' seconds') || '+00:00')", s.end.UTC().Format("2006-01-02 15:04:05"), age)
}

// open is true for the newest k rows.
func (s sql) newest(k int) string { return fmt.Sprintf("i > %d", s.n-k) }

func (s sql) statements() []string {
	return []string{
		`INSERT INTO recharges (idempotency_key, upstream_id, device_id, card_id, customer_name, customer_phone, amount, currency,
			state, created_at, updated_at, completed_at)
		SELECT 'seed-' || i, 'up-' || ` + s.pad("i", 8) + `,
			CASE WHEN i % 5 = 0 THEN '' ELSE '6875' || ` + s.pad("i % 50000", 10) + ` END,
			CASE WHEN i % 5 = 0 THEN '30' || ` + s.pad("i % 20000", 8) + ` ELSE '' END,
			'Customer ' || (i % 40000), '+2547' || ` + s.pad("i % 40000", 8) + `, ` + s.amount("100.50") + `, 'KES',
			CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN ` + s.newest(50) + ` THEN 'pending' WHEN i % 10 = 0 THEN 'failed' ELSE 'completed' END,
			` + s.at("0") + `, ` + s.at("0") + `,
			CASE WHEN i % 10 = 0 OR ` + s.newest(50) + ` THEN NULL ELSE ` + s.at("40") + ` END
		` + s.rows(),
		`INSERT INTO documents (reference, upstream_id, kind, title, file_url, state, review_decision, created_at, updated_at, completed_at)
		SELECT 'ref' || ` + s.pad("i", 29) + `, 'doc_' || ` + s.pad("i", 36) + `,
			CASE WHEN i % 3 = 0 THEN 'simple' ELSE 'review' END,
			'Contract ' || (i % 100000) || ' lease', 'https://files.example.com/' || i || '.pdf',
			CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN ` + s.newest(3000) + ` AND i % 4 = 0 THEN 'in_progress'
				WHEN ` + s.newest(3000) + ` AND i % 4 = 1 THEN 'submitted' WHEN i % 50 = 0 THEN 'expired' WHEN i % 70 = 0 THEN 'cancelled'
				ELSE 'completed' END,
			CASE WHEN i % 1000 = 0 OR i % 50 = 0 OR i % 70 = 0 OR (` + s.newest(3000) + ` AND i % 4 IN (0, 1)) OR ` + s.newest(20000) + ` THEN ''
				WHEN i % 7 = 0 THEN 'flagged' ELSE 'approved' END,
			` + s.at("0") + `, ` + s.at("0") + `,
			CASE WHEN i % 1000 = 0 OR i % 50 = 0 OR i % 70 = 0 OR (` + s.newest(3000) + ` AND i % 4 IN (0, 1)) THEN NULL
				ELSE ` + s.at("3600 + (i % 7) * 600") + ` END
		` + s.rows(),
		`INSERT INTO document_signees (document_id, position, nin, name, status)
		SELECT id, 0, ` + s.pad("12345670000 + id % 300000", 11) + `, 'Signer ' || id, 'signed' FROM documents`,
		`INSERT INTO document_signees (document_id, position, nin, name, status)
		SELECT id, 1, ` + s.pad("50000000000 + id % 300000", 11) + `, 'Witness ' || id, 'signed' FROM documents`,
		`INSERT INTO verifications (provider, reference, external_id, upstream_id, customer_phone, country, state, provider_status,
			document_number, given_names, surname, review_decision, created_at, updated_at, completed_at)
		SELECT CASE WHEN i % 3 = 0 THEN 'passportreader' ELSE 'pawapass' END,
			'vref' || ` + s.pad("i", 28) + `, CASE WHEN i % 3 = 0 THEN '' ELSE 'cust-' || ` + s.pad("i % 400000", 7) + ` END,
			CASE WHEN i % 3 = 0 THEN (4000000000000000000 + i)::text ELSE 'pp' || ` + s.pad("i", 8) + ` END,
			'+2547' || ` + s.pad("i % 300000", 8) + `, 'KE',
			CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN ` + s.newest(2000) + ` AND i % 3 = 0 THEN 'in_progress' WHEN i % 40 = 0 THEN 'expired'
				WHEN i % 7 = 0 THEN 'declined' ELSE 'approved' END,
			CASE WHEN i % 1000 = 0 THEN '' WHEN ` + s.newest(2000) + ` AND i % 3 = 0 THEN 'REVIEW' WHEN i % 40 = 0 THEN 'EXPIRED'
				WHEN i % 7 = 0 THEN 'DECLINED' ELSE 'APPROVED' END,
			'A' || ` + s.pad("i", 8) + `, 'Given ' || (i % 5000), 'Surname ' || (i % 7000),
			CASE WHEN i % 1000 = 0 OR i % 40 = 0 OR (` + s.newest(2000) + ` AND i % 3 = 0) OR ` + s.newest(15000) + ` THEN '' ELSE 'approved' END,
			` + s.at("0") + `, ` + s.at("0") + `,
			CASE WHEN i % 1000 = 0 OR (` + s.newest(2000) + ` AND i % 3 = 0) THEN NULL ELSE ` + s.at("600") + ` END
		` + s.rows(),
	}
}

// amount is a money literal in the dialect's column type.
func (s sql) amount(v string) string {
	if s.pg {
		return v
	}
	return "'" + v + "'"
}

// Seed fills db (migrated, empty) with n records of each kind, the newest
// created at end, and refreshes the planner's statistics.
func Seed(ctx context.Context, db *gorm.DB, n int, end time.Time) error {
	if n < 1 {
		return fmt.Errorf("seed: %d rows: want at least 1", n)
	}
	var existing int64
	if err := db.WithContext(ctx).Model(&models.Recharge{}).Count(&existing).Error; err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if existing > 0 {
		return fmt.Errorf("seed: the database already holds %d recharges: seed an empty one", existing)
	}
	s := sql{pg: models.DialectOf(db).Postgres(), n: n, end: end}
	for _, stmt := range append(s.statements(), "ANALYZE") {
		if !s.pg {
			stmt = strings.ReplaceAll(stmt, "(4000000000000000000 + i)::text", "CAST(4000000000000000000 + i AS TEXT)")
		}
		if err := db.WithContext(ctx).Exec(stmt).Error; err != nil {
			return fmt.Errorf("seed: %w\n%s", err, stmt)
		}
	}
	return nil
}
