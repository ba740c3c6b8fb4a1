// Command seed fills an empty portal database with a year of records for
// load tests: -rows recharges, documents and verifications each (default a
// million), the newest created now. It uses the database the portal would:
// DATABASE_URL when set, else the SQLite file in PORTAL_DB.
//
//	PORTAL_DB=/tmp/load/portal.db go run ./cmd/seed -rows 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"portal/internal/seed"
	"portal/models"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "records of each kind")
	flag.Parse()
	if err := run(context.Background(), *rows); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, rows int) error {
	url, path := os.Getenv("DATABASE_URL"), os.Getenv("PORTAL_DB")
	if path == "" {
		path = "./data/portal.db"
	}
	where := path
	if url != "" {
		where = "PostgreSQL"
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	db, err := models.OpenConfigured(ctx, url, path)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := seed.Seed(ctx, db, rows, time.Now().UTC()); err != nil {
		return err
	}
	fmt.Printf("seeded %d recharges, documents and verifications into %s in %s\n", rows, where, time.Since(start).Round(time.Second))
	return nil
}
