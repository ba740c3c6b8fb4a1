package services

import "gorm.io/gorm"

// Keyset pages go by id instead of OFFSET, so page 20,000 costs what page 1
// costs. Ids grow with time, so "newest first" is "id descending".

// KeysetOrder adds the cursor condition and order to q: rows older than
// before, rows newer than after (read ascending, reversed by KeysetPage), or
// the newest rows. It asks for one row more than limit to learn whether
// another page exists.
func KeysetOrder(q *gorm.DB, before, after uint, limit int) *gorm.DB {
	switch {
	case after > 0:
		q = q.Where("id > ?", after).Order("id ASC")
	case before > 0:
		q = q.Where("id < ?", before).Order("id DESC")
	default:
		q = q.Order("id DESC")
	}
	return q.Limit(limit + 1)
}

// KeysetPage trims rows read with KeysetOrder to limit, puts them newest
// first, and returns the cursors of the neighbouring pages (0: none).
func KeysetPage[T any](rows []T, id func(T) uint, before, after uint, limit int) (page []T, older, newer uint) {
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	if after > 0 {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	if len(rows) == 0 {
		return rows, 0, 0
	}
	if more || after > 0 {
		older = id(rows[len(rows)-1])
	}
	if (after > 0 && more) || before > 0 {
		newer = id(rows[0])
	}
	return rows, older, newer
}

// KeysetBatch is q's next batch for a full scan, newest first: up to limit
// rows with ids below cursor (0: from the newest).
func KeysetBatch(q *gorm.DB, cursor uint, limit int) *gorm.DB {
	if cursor > 0 {
		q = q.Where("id < ?", cursor)
	}
	return q.Order("id DESC").Limit(limit)
}
