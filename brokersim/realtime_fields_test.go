package brokersim_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

var (
	hhmmss   = regexp.MustCompile(`^([01]\d|2[0-3])[0-5]\d[0-5]\d$`)
	number   = regexp.MustCompile(`^-?\d+(\.\d+)?$`)
	kisClock = []struct {
		name string
		at   time.Time
		date string // the KST business day
	}{
		{"weekday morning", time.Date(2025, 1, 3, 0, 30, 0, 0, time.UTC), "20250103"},                 // Fri 09:30 KST
		{"KST date ahead of UTC", time.Date(2025, 1, 6, 16, 0, 0, 0, time.UTC), "20250107"},           // Tue 01:00 KST
		{"Saturday in KST, Friday in UTC", time.Date(2025, 1, 3, 15, 30, 0, 0, time.UTC), "20250103"}, // Sat 00:30 KST
	}
)

func atoi(t *testing.T, what, s string) int {
	t.Helper()
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s = %q; want an integer", what, s)
	}
	return v
}

// kisRecord reads one data frame of trID and returns its fields.
func kisRecord(t *testing.T, frame, trID string, n int) []string {
	t.Helper()
	parts := strings.SplitN(frame, "|", 4)
	if len(parts) != 4 || parts[0] != "0" || parts[1] != trID || parts[2] != "001" {
		t.Fatalf("frame = %.60q; want 0|%s|001|…", frame, trID)
	}
	f := strings.Split(parts[3], "^")
	if len(f) != n {
		t.Fatalf("%s has %d fields; want %d", trID, len(f), n)
	}
	for i, v := range f {
		if v == "" {
			t.Errorf("%s field %d is empty", trID, i)
		}
	}
	return f
}

// TestKISRealtimeFieldsArePlausible reads H0STCNT0 and H0STASP0 frames as
// python-kis does (by position) and checks that every field holds a value
// of its kind and that they agree with each other and across frames.
func TestKISRealtimeFieldsArePlausible(t *testing.T) {
	for _, tc := range kisClock {
		t.Run(tc.name, func(t *testing.T) {
			sim, ts := wsSim(t, func(s *brokersim.Server) { s.Clock = brokersim.StartAt(tc.at) })
			key := approvalKey(t, ts)
			c := dial(t, wsURL(ts, kauth.KIS, kauth.Mock, "/tryitout/H0STCNT0"))
			for _, tr := range []string{"H0STASP0", "H0STCNT0"} {
				send(t, c, kisSub(key, "1", tr, "005930"))
				if a := answer(t, c); a.Body.MsgCd != "OPSP0000" {
					t.Fatalf("subscribe %s = %+v", tr, a.Body)
				}
			}
			wantTime := tc.at.In(kauth.KST).Format("150405")
			lastVol := 0
			for tickNo := range 12 {
				sim.Tick()
				// Topics tick in order: H0STASP0 before H0STCNT0.
				qf := kisRecord(t, recv(t, c), "H0STASP0", 59)
				f := kisRecord(t, recv(t, c), "H0STCNT0", 46)
				for i, v := range f {
					switch i {
					case 0:
						if v != "005930" {
							t.Errorf("code = %q", v)
						}
					case 1, 24, 27, 30:
						if !hhmmss.MatchString(v) {
							t.Errorf("field %d = %q; want HHMMSS", i, v)
						}
					case 33:
						if v != tc.date {
							t.Errorf("BSOP_DATE = %q; want %s (KST business day)", v, tc.date)
						}
					case 34:
						if !strings.ContainsAny(v[:1], "1234") {
							t.Errorf("NEW_MKOP_CLS_CODE = %q; python-kis maps its first character from 1…4", v)
						}
					case 35:
						if v != "N" && v != "Y" {
							t.Errorf("TRHT_YN = %q", v)
						}
					default:
						if !number.MatchString(v) {
							t.Errorf("field %d = %q; want a number", i, v)
						}
					}
				}
				if got, err := time.Parse("150405", f[1]); err != nil || got.Sub(mustHHMMSS(wantTime)) < 0 || got.Sub(mustHHMMSS(wantTime)) > time.Minute {
					t.Errorf("STCK_CNTG_HOUR = %s; want the simulator's KST time %s", f[1], wantTime)
				}
				price, change := atoi(t, "price", f[2]), atoi(t, "change", f[4])
				prev := 71000
				if price-change != prev {
					t.Errorf("price %d - change %d != previous close %d", price, change, prev)
				}
				wantSign := map[bool]string{true: "2"}[change > 0]
				if change < 0 {
					wantSign = "5"
				} else if change == 0 {
					wantSign = "3"
				}
				if f[3] != wantSign {
					t.Errorf("sign = %s with change %d; want %s", f[3], change, wantSign)
				}
				if rate, _ := strconv.ParseFloat(f[5], 64); (rate > 0) != (change > 0) || (rate < 0) != (change < 0) {
					t.Errorf("rate %s disagrees with change %d", f[5], change)
				}
				open, high, low := atoi(t, "open", f[7]), atoi(t, "high", f[8]), atoi(t, "low", f[9])
				if !(high >= price && price >= low && high >= open && open >= low) {
					t.Errorf("open/high/low/price = %d/%d/%d/%d", open, high, low, price)
				}
				ask, bid := atoi(t, "ask1", f[10]), atoi(t, "bid1", f[11])
				if !(ask > bid && bid > 0) {
					t.Errorf("ask1 %d, bid1 %d", ask, bid)
				}
				qty, vol := atoi(t, "CNTG_VOL", f[12]), atoi(t, "ACML_VOL", f[13])
				if qty <= 0 || vol != lastVol+qty {
					t.Errorf("tick %d: volume %d after %d with a trade of %d", tickNo, vol, lastVol, qty)
				}
				lastVol = vol
				if s, b := atoi(t, "sell", f[19]), atoi(t, "buy", f[20]); s+b != vol {
					t.Errorf("sell %d + buy %d != cumulative %d", s, b, vol)
				}
				if f[21] != "1" && f[21] != "5" {
					t.Errorf("CCLD_DVSN = %q", f[21])
				}

				// The order book: time, ladders ordered, the same market.
				if !hhmmss.MatchString(qf[1]) || qf[1] != f[1] {
					t.Errorf("BSOP_HOUR = %q; want %s", qf[1], f[1])
				}
				for i := range 10 {
					a, b := atoi(t, "ask", qf[3+i]), atoi(t, "bid", qf[13+i])
					if i > 0 && (a <= atoi(t, "ask", qf[2+i]) || b >= atoi(t, "bid", qf[12+i])) {
						t.Errorf("ladder level %d not ordered: asks %v bids %v", i+1, qf[3:13], qf[13:23])
					}
					if atoi(t, "ask qty", qf[23+i]) <= 0 || atoi(t, "bid qty", qf[33+i]) <= 0 {
						t.Errorf("level %d quantities %s/%s", i+1, qf[23+i], qf[33+i])
					}
				}
				if qf[3] != f[10] || qf[13] != f[11] || qf[53] != f[13] {
					t.Errorf("order book ask1/bid1/volume %s/%s/%s; trade says %s/%s/%s", qf[3], qf[13], qf[53], f[10], f[11], f[13])
				}
				for i, v := range qf[2:] {
					if !number.MatchString(v) {
						t.Errorf("H0STASP0 field %d = %q; want a number", i+2, v)
					}
				}
			}
		})
	}
}

func mustHHMMSS(s string) time.Time {
	t, err := time.Parse("150405", s)
	if err != nil {
		panic(err)
	}
	return t
}

// kiwoomPrice reads a Kiwoom real-time price: "+71100", "-70900" or
// "71000", the sign telling its side of the previous close.
func kiwoomPrice(t *testing.T, what, s string, prev int) int {
	t.Helper()
	v := atoi(t, what, strings.TrimLeft(s, "+-"))
	switch {
	case strings.HasPrefix(s, "+") && v <= prev, strings.HasPrefix(s, "-") && v >= prev,
		!strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "-") && v != prev:
		t.Errorf("%s = %q; its sign disagrees with the previous close %d", what, s, prev)
	}
	return v
}

// TestKiwoomRealtimeFieldsArePlausible checks the REAL items of types 0B
// (주식체결) and 0D (주식호가잔량): every documented field is there with a
// value of its kind, and the values agree with each other across frames.
func TestKiwoomRealtimeFieldsArePlausible(t *testing.T) {
	at := time.Date(2025, 1, 3, 0, 30, 0, 0, time.UTC) // 09:30 KST
	sim, ts := wsSim(t, func(s *brokersim.Server) { s.Clock = brokersim.StartAt(at) })
	tok := kiwoomToken(t, ts)
	c := dial(t, wsURL(ts, kauth.Kiwoom, kauth.Mock, "/api/dostk/websocket"))
	send(t, c, []byte(`{"trnm":"LOGIN","token":"`+tok+`"}`))
	if m := kiwoomRecv(t, c); m.ReturnCode != 0 {
		t.Fatalf("login = %+v", m)
	}
	send(t, c, kiwoomReg("REG", "1", []string{"005930"}, []string{"0B", "0D"}))
	if m := kiwoomRecv(t, c); m.ReturnCode != 0 {
		t.Fatalf("REG = %+v", m)
	}
	trade := []string{"20", "10", "11", "12", "27", "28", "15", "13", "14", "16", "17", "18", "25", "26", "29", "30", "31", "32",
		"228", "311", "290", "691", "567", "568", "851", "1890", "1891", "1892", "1030", "1031", "1032", "1071", "1072",
		"1313", "1315", "1316", "1314", "1497", "1498", "620", "732", "852", "9081"}
	// FID_MAP["0D"] of kiwoom/core/fid.py (Kiwoom-Securities/Kiwoom-REST-API).
	book := []string{"21", "121", "122", "125", "126", "23", "24", "128", "129", "138", "139", "200", "201", "238",
		"291", "292", "293", "294", "295", "13", "299", "215", "216"}
	for i := range 10 {
		book = append(book, strconv.Itoa(41+i), strconv.Itoa(51+i), strconv.Itoa(61+i), strconv.Itoa(71+i), strconv.Itoa(81+i), strconv.Itoa(91+i),
			strconv.Itoa(621+i), strconv.Itoa(631+i))
	}
	for f := 6044; f <= 6087; f++ {
		book = append(book, strconv.Itoa(f))
	}
	for f := 6100; f <= 6115; f++ {
		book = append(book, strconv.Itoa(f))
	}
	const prev = 71000
	lastVol := 0
	for tickNo := range 12 {
		sim.Tick()
		m := kiwoomRecv(t, c)
		if m.Trnm != "REAL" || len(m.Data) != 2 {
			t.Fatalf("frame = %+v; want REAL with a 0B and a 0D item", m)
		}
		var tv, bv map[string]string
		for _, d := range m.Data {
			switch d.Type {
			case "0B":
				tv = d.Values
			case "0D":
				bv = d.Values
			}
		}
		if tv == nil || bv == nil {
			t.Fatalf("items = %+v; want types 0B and 0D", m.Data)
		}
		for _, set := range []struct {
			name   string
			fields []string
			v      map[string]string
		}{{"0B", trade, tv}, {"0D", book, bv}} {
			for _, f := range set.fields {
				v, ok := set.v[f]
				switch {
				case !ok || v == "":
					t.Errorf("%s field %s missing", set.name, f)
				case f == "20" || f == "21" || f == "1890" || f == "1891" || f == "1892" || f == "567" || f == "568":
					if !hhmmss.MatchString(v) {
						t.Errorf("%s field %s = %q; want HHMMSS", set.name, f, v)
					}
				case !regexp.MustCompile(`^[+-]?\d+(\.\d+)?$`).MatchString(v):
					t.Errorf("%s field %s = %q; want a number", set.name, f, v)
				}
			}
		}
		if tv["20"] != at.In(kauth.KST).Format("150405") && tv["20"] != at.Add(time.Second).In(kauth.KST).Format("150405") {
			t.Errorf("체결시간 = %s; want the simulator's KST time", tv["20"])
		}
		price := kiwoomPrice(t, "현재가", tv["10"], prev)
		if d := atoi(t, "전일대비", strings.TrimPrefix(tv["11"], "+")); price-d != prev {
			t.Errorf("현재가 %d - 전일대비 %d != %d", price, d, prev)
		}
		high, low := kiwoomPrice(t, "고가", tv["17"], prev), kiwoomPrice(t, "저가", tv["18"], prev)
		if !(high >= price && price >= low) {
			t.Errorf("high %d, price %d, low %d", high, price, low)
		}
		ask, bid := kiwoomPrice(t, "매도호가", tv["27"], prev), kiwoomPrice(t, "매수호가", tv["28"], prev)
		if ask <= bid {
			t.Errorf("best ask %d <= best bid %d", ask, bid)
		}
		qty := atoi(t, "거래량", strings.TrimLeft(tv["15"], "+-"))
		vol := atoi(t, "누적거래량", tv["13"])
		if vol != lastVol+qty || bv["13"] != tv["13"] {
			t.Errorf("tick %d: cumulative %d after %d with a trade of %d (0D says %s)", tickNo, vol, lastVol, qty, bv["13"])
		}
		lastVol = vol
		for i := range 10 {
			a, b := kiwoomPrice(t, "ask", bv[strconv.Itoa(41+i)], prev), kiwoomPrice(t, "bid", bv[strconv.Itoa(51+i)], prev)
			if i == 0 && (a != ask || b != bid) {
				t.Errorf("0D best %d/%d; 0B says %d/%d", a, b, ask, bid)
			}
			if i > 0 && (a <= kiwoomPrice(t, "ask", bv[strconv.Itoa(40+i)], prev) || b >= kiwoomPrice(t, "bid", bv[strconv.Itoa(50+i)], prev)) {
				t.Errorf("0D ladder level %d not ordered", i+1)
			}
		}
	}
}
