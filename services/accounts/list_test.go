package accounts_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"portal/models"
	"portal/services"
	"portal/services/accounts"
)

func TestStaffListSortsByEveryColumn(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // grace@example.com, "Grace Hopper", compliance, the first
	ctx := context.Background()
	for _, u := range []accounts.NewUser{
		{Email: "ada@example.com", Name: "ada Lovelace", Role: models.RoleAdmin},
		{Email: "zed@example.com", Name: "Alan Turing", Role: models.RoleOperator},
		{Email: "bob@example.com", Name: "Grace Hopper", Role: models.RoleOperator}, // a namesake
	} {
		f.c.advance(time.Hour)
		u.Password = testPassword
		if _, err := f.svc.CreateUser(ctx, services.System, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		sort string
		want []string
	}{
		{"", []string{"ada", "bob", "grace", "zed"}},
		{"email", []string{"ada", "bob", "grace", "zed"}},
		{"-email", []string{"zed", "grace", "bob", "ada"}},
		// Case does not count; namesakes by email.
		{"name", []string{"ada", "zed", "bob", "grace"}},
		{"-name", []string{"grace", "bob", "zed", "ada"}},
		{"role", []string{"ada", "grace", "zed", "bob"}},
		{"-role", []string{"bob", "zed", "grace", "ada"}},
		{"created", []string{"grace", "ada", "zed", "bob"}},
		{"-created", []string{"bob", "zed", "ada", "grace"}},
	} {
		users, order, err := f.svc.ListSorted(ctx, c.sort)
		if err != nil {
			t.Fatalf("sort %q: %v", c.sort, err)
		}
		var got []string
		for _, u := range users {
			got = append(got, u.Email[:len(u.Email)-len("@example.com")])
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("sort %q (%v): %v, want %v", c.sort, order, got, c.want)
		}
	}
	if _, _, err := f.svc.ListSorted(ctx, "password_hash"); err == nil {
		t.Error("sorting by a column the table does not offer is allowed")
	} else if fe, ok := services.AsFieldErrors(err); !ok || fe["sort"] == "" {
		t.Errorf("an unknown order: %v, want a message for sort", err)
	}
}
