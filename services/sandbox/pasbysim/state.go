package pasbysim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"portal/services/sandbox"
)

// Errors of the methods that act on a document (Sign, Open, Cancel, Expire,
// ResendWebhook). Failures of the sandbox store are returned wrapped, and
// are none of these.
var (
	ErrUnknownDocument = errors.New("pasbysim: no document with that id")
	ErrUnknownSignee   = errors.New("pasbysim: no signee with that NIN on the document")
	ErrCancelled       = errors.New("pasbysim: the document has been cancelled")
	ErrExpired         = errors.New("pasbysim: the document has expired")
	ErrCompleted       = errors.New("pasbysim: everyone has already signed the document")
	ErrAlreadySigned   = errors.New("pasbysim: the signee has already signed")
	ErrClosed          = errors.New("pasbysim: the simulator is closed")
)

// document is the persisted record of a document (kindDoc), signees and
// all: a signee belongs to one document and is never read without it.
type document struct {
	ID       string    `json:"id"`
	Version  string    `json:"version"` // of the create call
	Mode     string    `json:"mode"`    // ModeAPI or ModeInterface
	To       []string  `json:"to"`
	Title    string    `json:"title"`  // file.name
	Source   string    `json:"source"` // file.source
	HookHost string    `json:"hook_host"`
	HookRef  string    `json:"hook_ref"`
	IP       string    `json:"ip"`   // request.ip: the creator's address
	Base     string    `json:"base"` // public URL of the simulator root, for link and stamped
	IAT      time.Time `json:"iat"`
	EXP      time.Time `json:"exp"`
	LUT      time.Time `json:"lut"`
	State    string    `json:"state"`
	Signees  []*signee `json:"signees"`
	// Once completed.
	CompletedAt time.Time `json:"completed_at,omitzero"`
	Seal        string    `json:"seal,omitempty"` // the document's own signature [ours]
}

type signee struct {
	doc    *document // set by relink after a read
	FlowID string    `json:"flow_id"`
	FlowAt time.Time `json:"flow_at"` // iat of the flow request
	NIN    string    `json:"nin"`
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	Email  string    `json:"email"`
	Repr   string    `json:"representing"`
	Title  string    `json:"title"`
	Status string    `json:"status"`
	LUT    time.Time `json:"lut"`
	// Once signed.
	SignedAt       time.Time `json:"signed_at,omitzero"`
	SignIP         string    `json:"sign_ip,omitempty"`
	Identification string    `json:"identification,omitempty"`
	Signature      string    `json:"signature,omitempty"`
	// AutoSign schedule; zero when off or done.
	AutoOpen time.Time `json:"auto_open,omitzero"`
	AutoSign time.Time `json:"auto_sign,omitzero"`
}

// relink points the signees back at d, which JSON cannot carry.
func (d *document) relink() {
	for _, sg := range d.Signees {
		sg.doc = d
	}
}

// due is when d next moves by itself: its first AutoSign step before exp,
// else exp; never once it is final.
func (d *document) due() time.Time {
	if d.State != StatePending {
		return time.Time{}
	}
	next := d.EXP
	for _, sg := range d.Signees {
		for _, t := range []time.Time{sg.AutoOpen, sg.AutoSign} {
			if !t.IsZero() && t.Before(next) {
				next = t
			}
		}
	}
	return next
}

func (d *document) link() string {
	if d.Mode != ModeInterface {
		return ""
	}
	return d.Base + PathContract + d.ID
}

func (d *document) stamped() string {
	if d.State != StateCompleted {
		return ""
	}
	return d.Base + PathStamped + d.ID + "-stamped.pdf"
}

func (d *document) handled() bool { return d.State == StateCompleted }

func (d *document) signee(nin string) *signee {
	for _, sg := range d.Signees {
		if sg.NIN == nin {
			return sg
		}
	}
	return nil
}

func (d *document) snapshot() Document {
	v := Document{
		ID: d.ID, Mode: d.Mode, Version: d.Version, State: d.State,
		Title: d.Title, FileURL: d.Source, Stamped: d.stamped(), Link: d.link(),
		HookHost: d.HookHost, Reference: d.HookRef,
		IAT: d.IAT, EXP: d.EXP, LUT: d.LUT, Handled: d.handled(),
		Signees: make([]Signee, 0, len(d.Signees)),
	}
	for _, sg := range d.Signees {
		v.Signees = append(v.Signees, Signee{
			NIN: sg.NIN, FlowID: sg.FlowID, Name: sg.Name, Type: sg.Type, Email: sg.Email,
			Representing: sg.Repr, Title: sg.Title, Status: sg.Status, LUT: sg.LUT,
			SignedAt: sg.SignedAt, IP: sg.SignIP, Identification: sg.Identification, Signature: sg.Signature,
		})
	}
	return v
}

func sortNewestFirst(docs []Document) {
	slices.SortFunc(docs, func(a, b Document) int {
		if c := b.IAT.Compare(a.IAT); c != 0 {
			return c
		}
		return compareStrings(b.ID, a.ID)
	})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// newDocInput is a validated create request.
type newDocInput struct {
	version  string
	mode     string
	title    string
	source   string
	hookHost string
	hookRef  string
	ip       string
	base     string
	signees  []signeeInput
}

type signeeInput struct {
	nin, name, typ, email, repr, title string
}

// create records a new document and its signees' flow requests.
func (o *op) create(in newDocInput, ttl, autoSign time.Duration) (*document, error) {
	now := o.now.Truncate(time.Second) // the API speaks unix seconds
	id, err := o.newDocID(now)
	if err != nil {
		return nil, err
	}
	d := &document{
		ID: id, Version: in.version, Mode: in.mode, Title: in.title, Source: in.source,
		HookHost: in.hookHost, HookRef: in.hookRef, IP: in.ip, Base: in.base,
		IAT: now, EXP: now.Add(ttl), LUT: now, State: StatePending,
	}
	for i, si := range in.signees {
		flowID, err := o.insertFlow(now, d.ID)
		if err != nil {
			return nil, err
		}
		sg := &signee{
			doc: d, FlowID: flowID, FlowAt: now,
			NIN: si.nin, Name: si.name, Type: si.typ, Email: si.email, Repr: si.repr, Title: si.title,
			Status: StatusStale, LUT: now,
		}
		if in.mode == ModeAPI {
			// A simple signing names only NINs; pasby knows who holds
			// them. [ours]
			sg.Name = holderName(si.nin)
			sg.Type = "person"
			sg.Repr = sg.Name
		}
		if autoSign > 0 {
			step := time.Duration(i+1) * autoSign
			sg.AutoOpen = now.Add(step - autoSign/2)
			sg.AutoSign = now.Add(step)
		}
		d.To = append(d.To, si.nin)
		d.Signees = append(d.Signees, sg)
	}
	if err := o.tx.Insert(kindDoc, d.ID, d, ceilMilli(d.due())); err != nil {
		return nil, err
	}
	o.changed = true
	return d, nil
}

// advance applies, in time order, everything the clock says has happened
// to d while unfinished: AutoSign steps, then expiry at exp. Events happen
// at their due time, not when someone looked. [ours] moved reports whether
// d changed and must be saved.
func (o *op) advance(d *document) (moved bool, err error) {
	if d.State != StatePending {
		return false, nil
	}
	for _, sg := range d.Signees {
		if d.State != StatePending {
			break
		}
		if !sg.AutoOpen.IsZero() && !sg.AutoOpen.After(o.now) {
			if sg.AutoOpen.Before(d.EXP) && sg.Status == StatusStale {
				o.open(sg, sg.AutoOpen)
			}
			sg.AutoOpen, moved = time.Time{}, true
		}
		if !sg.AutoSign.IsZero() && !sg.AutoSign.After(o.now) {
			if sg.AutoSign.Before(d.EXP) && sg.Status != StatusSigned {
				if err := o.sign(sg, sg.AutoSign, autoSignIP); err != nil {
					return false, err
				}
			}
			sg.AutoSign, moved = time.Time{}, true
		}
	}
	if d.State == StatePending && !o.now.Before(d.EXP) {
		d.State = StateExpired
		d.LUT = d.EXP
		moved, o.changed = true, true
	}
	return moved, nil
}

// autoSignIP is the address AutoSign and the sandbox actions sign from: a
// documentation address (RFC 5737), like the document's examples. [ours]
const autoSignIP = "203.0.113.10"

// checkActive returns the error for acting on d when it is final.
func checkActive(d *document) error {
	switch d.State {
	case StateCancelled:
		return ErrCancelled
	case StateExpired:
		return ErrExpired
	case StateCompleted:
		return ErrCompleted
	}
	return nil
}

// open moves a stale signee to viewing: the flow was picked up (in the
// app, or on the hosted page).
func (o *op) open(sg *signee, at time.Time) {
	if sg.Status != StatusStale {
		return
	}
	at = at.Truncate(time.Second)
	sg.Status = StatusViewing
	sg.LUT = at
	sg.doc.LUT = at
	o.changed = true
}

// sign signs as sg (passing through viewing), completes the document when
// sg was the last one, and queues the webhook. The caller has checked that
// the document is pending and sg has not signed, and saves the document.
func (o *op) sign(sg *signee, at time.Time, ip string) error {
	at = at.Truncate(time.Second)
	o.open(sg, at)
	d := sg.doc
	sg.Status = StatusSigned
	sg.LUT = at
	sg.SignedAt = at
	sg.SignIP = ip
	sg.Identification = newUUIDv4()
	msg := d.ID + "|" + sg.NIN + "|" + strconv.FormatInt(at.Unix(), 10)
	sg.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(o.keys.sign, []byte(msg)))
	d.LUT = at
	if !slices.ContainsFunc(d.Signees, func(other *signee) bool { return other.Status != StatusSigned }) {
		d.State = StateCompleted
		d.CompletedAt = at
		seal := d.ID + "|completed|" + strconv.FormatInt(at.Unix(), 10)
		d.Seal = base64.StdEncoding.EncodeToString(ed25519.Sign(o.keys.sign, []byte(seal)))
	}
	o.changed = true
	return o.queueWebhook(d)
}

func (o *op) cancel(d *document) {
	d.State = StateCancelled
	d.LUT = o.now.Truncate(time.Second)
	o.changed = true
}

// notify wakes everything waiting for a change (held polling requests),
// which then read the store again.
func (s *Sim) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
}

// mustDoc finds a document for the exported methods.
func (o *op) mustDoc(id string) (*document, error) {
	d, err := o.doc(id)
	if err == nil && d == nil {
		err = ErrUnknownDocument
	}
	return d, err
}

// docErrors are the errors of acting on a document.
var docErrors = []error{ErrUnknownDocument, ErrUnknownSignee, ErrCancelled, ErrExpired, ErrCompleted, ErrAlreadySigned, ErrClosed}

func isDocErr(err error) bool { return slices.Contains(docErrors, err) }

// docErr passes the document errors on as they are (callers compare them)
// and wraps a failure of the store.
func docErr(what string, err error) error {
	if err == nil || isDocErr(err) {
		return err
	}
	return fmt.Errorf("pasbysim: %s: %w", what, err)
}

// openSignee opens the flow of sg, a signee of d, if d is still pending.
func (o *op) openSignee(d *document, sg *signee) error {
	if err := checkActive(d); err != nil {
		return err
	}
	o.open(sg, o.now)
	return o.save(d)
}

// signSignee signs as sg, a signee of d, if neither is done.
func (o *op) signSignee(d *document, sg *signee, ip string) error {
	if sg.Status == StatusSigned {
		return ErrAlreadySigned
	}
	if err := checkActive(d); err != nil {
		return err
	}
	if err := o.sign(sg, o.now, ip); err != nil {
		return err
	}
	return o.save(d)
}

// Open marks the signee with NIN nin of document docID as viewing (the
// flow was picked up), as opening the hosted page as them does. It does
// nothing if they were already viewing or have signed.
func (s *Sim) Open(docID, nin string) error {
	return s.openAs(context.Background(), docID, nin)
}

func (s *Sim) openAs(ctx context.Context, docID, nin string) error {
	return docErr("open", s.update(ctx, func(o *op) error {
		d, err := o.mustDoc(docID)
		if err != nil {
			return err
		}
		sg := d.signee(nin)
		if sg == nil {
			return ErrUnknownSignee
		}
		return o.openSignee(d, sg)
	}))
}

// Sign signs document docID as the signee with NIN nin, as they would in
// the pasby app or on the hosted page. The signee passes through viewing;
// when they are the last one, the document completes. A webhook is sent
// either way.
func (s *Sim) Sign(docID, nin string) error {
	_, err := s.signAs(context.Background(), docID, nin, autoSignIP)
	return err
}

// signAs signs and reports whether that completed the document.
func (s *Sim) signAs(ctx context.Context, docID, nin, ip string) (completed bool, err error) {
	err = s.update(ctx, func(o *op) error {
		d, err := o.mustDoc(docID)
		if err != nil {
			return err
		}
		sg := d.signee(nin)
		if sg == nil {
			return ErrUnknownSignee
		}
		if err := o.signSignee(d, sg, ip); err != nil {
			return err
		}
		completed = d.State == StateCompleted
		return nil
	})
	return completed, docErr("sign", err)
}

// Cancel cancels document docID, as POST flow/cancel does.
func (s *Sim) Cancel(docID string) error {
	return s.cancelDoc(context.Background(), docID)
}

func (s *Sim) cancelDoc(ctx context.Context, docID string) error {
	return docErr("cancel", s.update(ctx, func(o *op) error {
		d, err := o.mustDoc(docID)
		if err != nil {
			return err
		}
		if err := checkActive(d); err != nil {
			return err
		}
		o.cancel(d)
		return o.save(d)
	}))
}

// Expire makes document docID expire now: exp becomes the current time.
func (s *Sim) Expire(docID string) error {
	return s.expireDoc(context.Background(), docID)
}

func (s *Sim) expireDoc(ctx context.Context, docID string) error {
	return docErr("expire", s.update(ctx, func(o *op) error {
		d, err := o.mustDoc(docID)
		if err != nil {
			return err
		}
		if err := checkActive(d); err != nil {
			return err
		}
		d.EXP = o.now.Truncate(time.Second)
		if d.EXP.Before(d.IAT) {
			d.EXP = d.IAT
		}
		if _, err := o.advance(d); err != nil {
			return err
		}
		return o.save(d)
	}))
}

// ResendWebhook sends document docID's webhook again, with its current
// state, whatever its state.
func (s *Sim) ResendWebhook(docID string) error {
	return s.resend(context.Background(), docID)
}

func (s *Sim) resend(ctx context.Context, docID string) error {
	if s.isClosed() {
		return ErrClosed
	}
	return docErr("resend webhook", s.update(ctx, func(o *op) error {
		d, err := o.mustDoc(docID)
		if err != nil {
			return err
		}
		return o.queueWebhook(d)
	}))
}

func (s *Sim) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// --- ids ---

// uuidEpoch is the UUID v1 epoch, 1582-10-15, in 100 ns intervals before
// the Unix epoch.
const uuidEpoch = 0x01B21DD213814000

// newDocID returns "doc_" and a UUID v1 of now: 40 characters, as NOTES.md
// describes pasby's document ids, unused in the store. The clock sequence
// and node are random (the node with the multicast bit set, as RFC 9562
// asks of a random node).
func (o *op) newDocID(now time.Time) (string, error) {
	for {
		ts := uint64(now.UnixNano()/100) + uuidEpoch
		var b [16]byte
		binary.BigEndian.PutUint32(b[0:4], uint32(ts))
		binary.BigEndian.PutUint16(b[4:6], uint16(ts>>32))
		binary.BigEndian.PutUint16(b[6:8], uint16(ts>>48)&0x0fff|0x1000)
		_, _ = rand.Read(b[8:])
		b[8] = b[8]&0x3f | 0x80
		b[10] |= 0x01
		id := "doc_" + formatUUID(b)
		if taken, err := o.exists(kindDoc, id); err != nil || !taken {
			return id, err
		}
	}
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// insertFlow records a new signature flow request of document docID and
// returns its id, "req_<unix seconds>-<4 alphanumerics>" (NOTES.md),
// unique among the simulator's flows: Insert refuses a taken one.
func (o *op) insertFlow(now time.Time, docID string) (string, error) {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		suffix := make([]byte, 4)
		for i, c := range b {
			suffix[i] = alphanumerics[int(c)%len(alphanumerics)]
		}
		id := "req_" + strconv.FormatInt(now.Unix(), 10) + "-" + string(suffix)
		err := o.tx.Insert(kindFlow, id, docID, time.Time{})
		if !errors.Is(err, sandbox.ErrExists) {
			return id, err
		}
	}
}

func formatUUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newUUIDv4 returns a random UUID: a signature's identification, shaped
// like the document's "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee". [ours]
func newUUIDv4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// --- the fake NIN directory ---

var (
	firstNames = []string{"Adaeze", "Babajide", "Chiamaka", "Danjuma", "Efe", "Folake", "Garba", "Halima", "Ifeanyi", "Jumoke", "Kelechi", "Lola", "Musa", "Ngozi", "Oluwaseun", "Tunde"}
	lastNames  = []string{"Adeyemi", "Bello", "Chukwu", "Danladi", "Eze", "Fashola", "Ibrahim", "Nwosu", "Okafor", "Okonkwo", "Olawale", "Usman"}
)

// holderName is the name the sandbox's pasby "knows" for a NIN: stable,
// made up, and never containing the NIN itself. [ours]
func holderName(nin string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(nin))
	n := h.Sum32()
	return firstNames[n%uint32(len(firstNames))] + " " + lastNames[(n/uint32(len(firstNames)))%uint32(len(lastNames))]
}
