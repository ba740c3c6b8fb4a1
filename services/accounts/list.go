package accounts

import (
	"context"
	"fmt"

	"portal/models"
	"portal/services"
)

// The staff table is sorted by the database but neither paged nor
// index-backed, unlike the record lists: it holds the company's staff
// (tens to hundreds of rows, never a million), which the database sorts
// in well under a millisecond, so a keyset and an index per column would
// buy nothing.

// UserSortKeys are the columns the staff table sorts by. Last sign-in is
// not one: users has no such column (sign-ins are in the audit log).
var UserSortKeys = []services.SortKey[models.User]{{Name: "name"}, {Name: "email"}, {Name: "role"}, {Name: "created"}}

// DefaultUserSort is by email, the address a person signs in with.
var DefaultUserSort = services.Sort{Key: "email", Asc: true}

// userOrder is each key's ORDER BY, ascending; every one ends in a unique
// column so equal names or roles keep one order. Names sort without
// regard to case, as a person reads them.
var userOrder = map[string][]string{
	"name":    {"lower(name)", "email"},
	"email":   {"email"},
	"role":    {"role", "lower(name)", "email"},
	"created": {"created_at", "id"},
}

// List returns every staff account, by email.
func (s *Service) List(ctx context.Context) ([]models.User, error) {
	users, _, err := s.ListSorted(ctx, "")
	return users, err
}

// ListSorted returns every staff account in the order sort names ("name",
// "-created"; "" for DefaultUserSort), and the order it used. An unknown
// order is a field error on "sort".
func (s *Service) ListSorted(ctx context.Context, sort string) ([]models.User, services.Sort, error) {
	errs := services.FieldErrors{}
	order, _ := services.ParseSort(sort, UserSortKeys, DefaultUserSort, errs)
	if len(errs) > 0 {
		return nil, DefaultUserSort, errs
	}
	q := s.db.WithContext(ctx)
	for _, col := range userOrder[order.Key] {
		if !order.Asc {
			col += " DESC"
		}
		q = q.Order(col)
	}
	var users []models.User
	if err := q.Find(&users).Error; err != nil {
		return nil, order, fmt.Errorf("accounts: list users: %w", err)
	}
	return users, order, nil
}
