package models

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// SharedSecret is the random secret named name, made by the first process
// that asks and the same for every replica after that: it lives in the
// database they share, not in a file on one machine.
func SharedSecret(ctx context.Context, db *gorm.DB, name string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	conn := db.WithContext(ctx)
	if err := conn.Exec("INSERT INTO settings(name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
		name, hex.EncodeToString(raw), time.Now().UTC()).Error; err != nil {
		return "", fmt.Errorf("setting %s: %w", name, err)
	}
	var value string
	if err := conn.Raw("SELECT value FROM settings WHERE name = ?", name).Scan(&value).Error; err != nil {
		return "", fmt.Errorf("setting %s: %w", name, err)
	}
	return value, nil
}
