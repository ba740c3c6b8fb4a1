package pawapass

// Contract tests: the example request and response of
// pawapass-create-verification.txt, copied verbatim into testdata/, are
// what this client sends and what it decodes, field for field.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// exampleCreatedBy is the document's createdBy: its publisher's e-mail
// obfuscation, with a no-break space, kept as it is.
const exampleCreatedBy = "[email\u00a0protected]"

// exampleRequest is the document's example request, written as Go.
func exampleRequest() CreateRequest {
	return CreateRequest{
		ExternalID:   "user-zm-98765",
		Requirements: []Requirement{{Type: RequirementDocumentScan}, {Type: RequirementFaceScan}},
		SuccessURL:   "https://your-website.com/success",
		ErrorURL:     "https://your-website.com/error",
		SupportURL:   "https://your-website.com/support",
		Country:      "ZM",
		PhoneNo:      "+260971234567",
		Metadata:     map[string]string{"reason": "kyc-onboarding", "channel": "mobile-app", "department": "compliance"},
		ExpiresAt:    time.Date(2025, 8, 27, 9, 0, 0, 0, time.UTC),
		CreatedBy:    exampleCreatedBy,
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// exampleDecoded is what the document's example response must decode to.
func exampleDecoded(t *testing.T) Verification {
	idt := mustTime(t, "2023-11-07T05:31:56Z")
	return Verification{
		ID: "aB1cD2eF", ExternalID: "user-zm-98765", Country: "ZM", PhoneNo: "+260971234567",
		Requirements: []Requirement{{Type: RequirementDocumentScan}, {Type: RequirementFaceScan}},
		URL:          "https://app.pawapass.com/your-company/aB1cD2eF",
		Status:       StatusCreated,
		SuccessURL:   "https://your-website.com/success",
		ErrorURL:     "https://your-website.com/error",
		SupportURL:   "https://your-website.com/support",
		IdentityDocument: &IdentityDocument{
			Type: "NATIONAL_ID", Country: "ZM", SerialNo: "9876543/21/1", NationalNo: "Z12345678",
			FirstName: "Tisa", LastName: "Banda", DateOfBirth: "1997-05-10", PlaceOfBirth: "Lusaka",
			Nationality: "ZM", ExpiryAt: "2032-05-09", IssuedAt: "2022-05-10",
			IssuingAuthority: "Republic of Zambia", PlaceOfIssue: "Lusaka", CreatedAt: idt, UpdatedAt: idt,
		},
		FaceScan:     &FaceScan{AgeEstimation: "OVER_18", CreatedAt: idt, UpdatedAt: idt},
		ReviewResult: &ReviewResult{Reason: "CAPTURE_ISSUE"},
		CreatedBy:    exampleCreatedBy,
		ExpiresAt:    mustTime(t, "2025-08-27T09:00:00.000Z"),
		CreatedAt:    mustTime(t, "2025-08-20T09:00:00.000Z"),
		UpdatedAt:    mustTime(t, "2025-08-20T09:00:00.000Z"),
	}
}

// checkExample asserts v is the document's example response, every field.
func checkExample(t *testing.T, v Verification, doc []byte) {
	t.Helper()
	for _, z := range zeroFields(reflect.ValueOf(v), "Verification") {
		if !strings.HasSuffix(z, ".Options") { // the example has no options
			t.Errorf("%s is not populated from the example", z)
		}
	}
	if !bytes.Equal(v.Raw, bytes.TrimSpace(doc)) {
		t.Errorf("Raw is not the object as received:\n%s", v.Raw)
	}
	var docMap map[string]json.RawMessage
	if err := json.Unmarshal(doc, &docMap); err != nil {
		t.Fatal(err)
	}
	assertSameJSON(t, v.Metadata, docMap["metadata"])
	// The public types' json names are the document's.
	for name, part := range map[string]any{
		"identityDocument": v.IdentityDocument, "faceScan": v.FaceScan, "reviewResult": v.ReviewResult, "requirements": v.Requirements,
	} {
		b, err := json.Marshal(part)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { assertSameJSON(t, b, docMap[name]) })
	}
	want := exampleDecoded(t)
	got := v
	got.Raw, got.Metadata = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n %+v\nwant\n %+v", got, want)
	}
	if !reflect.DeepEqual(*got.IdentityDocument, *want.IdentityDocument) {
		t.Errorf("identityDocument = %+v", *got.IdentityDocument)
	}
}

func TestContractCreateRequest(t *testing.T) {
	doc := readTestdata(t, "create_request.json")

	// Every field of the document's example is one our body knows.
	var known createBody
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&known); err != nil {
		t.Fatalf("the document's example does not fit our request body: %v", err)
	}

	u := newFake(t, answer(http.StatusCreated, exampleVerification(t)))
	c := testClient(u.URL)
	v, err := c.Create(context.Background(), exampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	sent := u.last(t)
	if sent.method != http.MethodPost || sent.path != "/v2/verifications/" {
		t.Errorf("sent %s %s, want POST /v2/verifications/", sent.method, sent.path)
	}
	for h, want := range map[string]string{
		"Authorization": "Bearer " + testKey,
		"Content-Type":  "application/json",
		"Accept":        "application/json",
	} {
		if got := sent.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	assertSameJSON(t, sent.body, doc)
	if !bytes.Contains(sent.body, []byte(`"expiresAt":"2025-08-27T09:00:00.000Z"`)) {
		t.Errorf("expiresAt not in the document's form: %s", sent.body)
	}
	checkExample(t, v, readTestdata(t, "verification.json"))
}

func TestContractVerificationDecodes(t *testing.T) {
	doc := readTestdata(t, "verification.json")
	t.Run("get", func(t *testing.T) {
		u := newFake(t, answer(http.StatusOK, string(doc)))
		v, err := testClient(u.URL).Get(context.Background(), "aB1cD2eF")
		if err != nil {
			t.Fatal(err)
		}
		if sent := u.last(t); sent.method != http.MethodGet || sent.path != "/v2/verifications/aB1cD2eF" {
			t.Errorf("sent %s %s", sent.method, sent.path)
		}
		checkExample(t, v, doc)
	})
	t.Run("list", func(t *testing.T) {
		u := newFake(t, answer(http.StatusOK, `{"items":[`+string(doc)+`],"count":31}`))
		res, err := testClient(u.URL).List(context.Background(), ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Count != 31 || len(res.Items) != 1 {
			t.Fatalf("list = %d items, count %d", len(res.Items), res.Count)
		}
		checkExample(t, res.Items[0], doc)
	})
	t.Run("webhook", func(t *testing.T) {
		body := `{"notificationId":"5f0c6d0e-3a5b-4a53-9a59-1d3c1a1f2b3c","type":"VERIFICATION.STATUS_CHANGE",` +
			`"object":"VERIFICATION","createdAt":"2025-08-20T09:00:01.250Z","data":` + string(doc) + `}`
		n, err := ParseNotification([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if n.NotificationID != "5f0c6d0e-3a5b-4a53-9a59-1d3c1a1f2b3c" || n.Type != NotificationStatusChange ||
			n.Object != NotificationObject || !n.CreatedAt.Equal(mustTime(t, "2025-08-20T09:00:01.25Z")) {
			t.Errorf("notification = %+v", n)
		}
		checkExample(t, n.Data, doc)
	})
}
