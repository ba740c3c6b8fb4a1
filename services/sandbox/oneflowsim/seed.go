package oneflowsim

import "github.com/shopspring/decimal"

// Ids of the default seed that tests can rely on. The first customer is the
// one in the document's examples (Jane Doe, +254712345678, device
// 68753500140920), so the document's example requests work as they are.
const (
	// SeedPhone is the first customer's phone (Kenya, KES).
	SeedPhone = "+254712345678"
	// SeedDeviceID is the first customer's device serial.
	SeedDeviceID = "68753500140920"
	// SeedCardID is the first customer's card.
	SeedCardID = "3081726354"
	// SeedCustomerName is the first customer's name.
	SeedCustomerName = "Jane Doe"

	// SeedGhanaPhone and SeedGhanaDeviceID are a Ghanaian customer (GHS).
	SeedGhanaPhone    = "+233244123456"
	SeedGhanaDeviceID = "23310400215506"

	// SeedSuspendedDeviceID is a suspended device of a Kenyan customer:
	// its recharges are accepted and then FAIL when they settle. [ours]
	SeedSuspendedDeviceID = "68753500141251"
	// SeedSuspendedCardID is a suspended card of a Ghanaian customer.
	SeedSuspendedCardID = "2330045524"
)

// DefaultSeed returns a fresh copy of the demo customers: eight people in
// Kenya and Ghana, each with one to three devices (14-digit serials) and
// some with cards (10-digit ids), balances in litres. [ours]
func DefaultSeed() []Customer {
	dev := func(id, balance string) Device {
		return Device{ID: id, Type: DeviceTypeDevice, Balance: decimal.RequireFromString(balance)}
	}
	card := func(id, balance string) Device {
		return Device{ID: id, Type: DeviceTypeCard, Balance: decimal.RequireFromString(balance)}
	}
	suspended := func(d Device) Device { d.Suspended = true; return d }
	return []Customer{
		{Name: SeedCustomerName, PhoneNumber: SeedPhone, Devices: []Device{
			dev(SeedDeviceID, "150031.9"),
			card(SeedCardID, "42.5"),
		}},
		{Name: "Wanjiku Kamau", PhoneNumber: "+254722318845", Devices: []Device{
			dev("68753500140937", "318.25"),
		}},
		{Name: "Otieno Odhiambo", PhoneNumber: "+254733604112", Devices: []Device{
			suspended(dev(SeedSuspendedDeviceID, "12")),
			dev("68753500141268", "96"),
		}},
		{Name: "Amina Hassan", PhoneNumber: "+254701987654", Devices: []Device{
			dev("68753500141343", "0"),
			card("3081726418", "20"),
		}},
		{Name: "Kiprono Cheruiyot", PhoneNumber: "+254110234567", Devices: []Device{
			dev("68753500141350", "540.75"),
			dev("68753500141367", "75.5"),
			dev("68753500141374", "1200"),
		}},
		{Name: "Kwame Mensah", PhoneNumber: SeedGhanaPhone, Devices: []Device{
			dev(SeedGhanaDeviceID, "88.4"),
			card("2330045517", "10"),
		}},
		{Name: "Akosua Boateng", PhoneNumber: "+233201234567", Devices: []Device{
			dev("23310400215513", "1500"),
			dev("23310400215520", "15.5"),
		}},
		{Name: "Yaw Asante", PhoneNumber: "+233551234567", Devices: []Device{
			dev("23310400215537", "64"),
			suspended(card(SeedSuspendedCardID, "0")),
		}},
	}
}
