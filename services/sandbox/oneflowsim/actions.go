package oneflowsim

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/shopspring/decimal"

	"portal/services/sandbox"
)

// Action names, for sandbox.Harness.Run.
const (
	ActionComplete    = "complete"
	ActionFail        = "fail"
	ActionAddCustomer = "add_customer"
)

// defaultFailReason is the failureReason of a recharge failed from the
// sandbox page without a reason. [ours]
const defaultFailReason = "failed from the sandbox page"

// balanceInput is what the add_customer form accepts as a balance.
var balanceInput = regexp.MustCompile(`^[0-9]{1,10}(\.[0-9]{1,2})?$`)

// Actions are the sandbox page's controls: settle a pending recharge now
// (complete or fail) and add a customer.
func (s *Sim) Actions() []sandbox.Action {
	rechargeID := sandbox.Field{Name: FieldRechargeID, Label: "Recharge id", Placeholder: "98466062-2548-4dca-9ef9-f1b4b09c92dc", Required: true}
	return []sandbox.Action{
		{
			Name:   ActionComplete,
			Label:  "Complete recharge",
			Help:   "Completes a pending recharge now: the litres are added to the device's balance.",
			Fields: []sandbox.Field{rechargeID},
			Run: func(_ context.Context, in map[string]string) (string, error) {
				return s.settleNow(in[FieldRechargeID], StatusCompleted, "")
			},
		},
		{
			Name:  ActionFail,
			Label: "Fail recharge",
			Help:  "Fails a pending recharge now; the balance does not change.",
			Fields: []sandbox.Field{
				rechargeID,
				{Name: FieldReason, Label: "Reason", Placeholder: defaultFailReason},
			},
			Run: func(_ context.Context, in map[string]string) (string, error) {
				return s.settleNow(in[FieldRechargeID], StatusFailed, in[FieldReason])
			},
		},
		{
			Name:  ActionAddCustomer,
			Label: "Add customer",
			Help:  "Adds a Kenyan (+254) or Ghanaian (+233) customer with a device and, optionally, a card.",
			Fields: []sandbox.Field{
				{Name: FieldName, Label: "Name", Placeholder: "Akua Owusu", Required: true},
				{Name: FieldPhoneNumber, Label: "Phone (E.164)", Placeholder: "+233241234567", Required: true},
				{Name: FieldDeviceID, Label: "Device serial (14 digits)", Placeholder: "68753500149999", Required: true},
				{Name: FieldCardID, Label: "Card id (10 digits, optional)", Placeholder: "3081720000"},
				{Name: FieldBalance, Label: "Device balance in litres (optional)", Placeholder: "0"},
			},
			Run: func(_ context.Context, in map[string]string) (string, error) {
				return s.addCustomerAction(in)
			},
		},
	}
}

// settleNow moves a PENDING recharge to status (COMPLETED or FAILED) now.
func (s *Sim) settleNow(id, status, reason string) (msg string, err error) {
	now := s.now()
	err = s.bucket.Update(bg, func(tx *sandbox.Tx) error {
		if err := settleDue(tx, now); err != nil { // one that is already due has settled by itself
			return err
		}
		var rc recharge
		if found, err := tx.Get(kindRecharge, id, &rc); err != nil {
			return err
		} else if !found {
			return &sandbox.ValidationError{Field: FieldRechargeID, Message: "There is no recharge with that id."}
		}
		if rc.Status != StatusPending {
			return &sandbox.ValidationError{Field: FieldRechargeID, Message: fmt.Sprintf("Recharge %s is already %s.", rc.ID, rc.Status)}
		}
		v, err := loadRecharge(tx, id)
		if err != nil {
			return err
		}
		if status == StatusCompleted {
			if err := settle(tx, &v, StatusCompleted, now, ""); err != nil {
				return err
			}
			msg = fmt.Sprintf("Recharge %s completed: %s litres added, balance now %s.", v.rc.ID, v.rc.Litres, v.rc.Balance)
			return nil
		}
		if reason == "" {
			reason = defaultFailReason
		}
		if err := settle(tx, &v, StatusFailed, now, clip(reason, 200)); err != nil {
			return err
		}
		msg = fmt.Sprintf("Recharge %s failed: %s.", v.rc.ID, v.rc.Reason)
		return nil
	})
	if err != nil {
		var ve *sandbox.ValidationError
		if !errors.As(err, &ve) {
			err = fmt.Errorf("oneflowsim: settle %s: %w", id, err)
		}
		return "", err
	}
	return msg, nil
}

func (s *Sim) addCustomerAction(in map[string]string) (string, error) {
	balance := decimal.Zero
	if b := in[FieldBalance]; b != "" {
		if !balanceInput.MatchString(b) {
			return "", &sandbox.ValidationError{Field: FieldBalance, Message: "Enter the balance in litres, like 250 or 12.5."}
		}
		balance = decimal.RequireFromString(b) // the pattern guarantees a decimal
	}
	c := Customer{
		Name:        in[FieldName],
		PhoneNumber: in[FieldPhoneNumber],
		Devices:     []Device{{ID: in[FieldDeviceID], Type: DeviceTypeDevice, Balance: balance}},
	}
	if in[FieldCardID] != "" {
		c.Devices = append(c.Devices, Device{ID: in[FieldCardID], Type: DeviceTypeCard, Balance: decimal.Zero})
	}
	if err := s.AddCustomer(c); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Added %s (%s) with device %s", clip(c.Name, 100), c.PhoneNumber, c.Devices[0].ID)
	if len(c.Devices) > 1 {
		msg += " and card " + c.Devices[1].ID
	}
	return msg + ".", nil
}
