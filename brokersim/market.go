package brokersim

import (
	"fmt"
	"strconv"
	"time"

	"github.com/kauth/kauth"
)

// quote is the market of one stock as one WebSocket session sees it: the
// price walks a few price units around the previous close, every tick is
// one trade of one share, and every trade adds to the day's totals, so
// that the real-time frames agree with each other (cumulative volume
// grows, high ≥ price ≥ low, asks above bids).
type quote struct {
	code            string
	prev, unit      int   // previous close (기준가) and price unit
	shares          int64 // listed shares
	n               int   // trades so far
	price           int
	open, high, low int
	openAt          string // HHMMSS KST
	highAt, lowAt   string
	qty             int  // the last trade's quantity
	buy             bool // the last trade hit the ask (매수체결)
	vol, amount     int64
	sellQty, buyQty int64
	sellCnt, buyCnt int
	date, at        string // business date YYYYMMDD and time HHMMSS of the last trade
}

// walk is the price path in price units from the previous close.
var walk = []int{1, 2, 3, 2, 1, 0, -1, -2, -1, 0}

func newQuote(code string) *quote {
	q := &quote{code: code, prev: 10000, shares: 100_000_000}
	if st, ok := stocks[code]; ok {
		q.prev, q.shares = st.price, st.shares
	}
	q.unit = tick(q.prev)
	return q
}

// step makes one trade at now.
func (q *quote) step(now time.Time) {
	q.n++
	old := q.price
	q.price = q.prev + walk[(q.n-1)%len(walk)]*q.unit
	q.at = kstStamp(now, "150405")
	q.date = businessDate(now)
	if q.n == 1 {
		q.open, q.high, q.low = q.price, q.price, q.price
		q.openAt, q.highAt, q.lowAt = q.at, q.at, q.at
		old = q.prev
	}
	if q.price > q.high {
		q.high, q.highAt = q.price, q.at
	}
	if q.price < q.low {
		q.low, q.lowAt = q.price, q.at
	}
	// One share a trade: a topic's cumulative volume then counts its
	// frames, which clients and tests use as a sequence number.
	q.qty = 1
	q.buy = q.price > old || (q.price == old && q.n%2 == 1)
	q.vol += int64(q.qty)
	q.amount += int64(q.qty) * int64(q.price)
	if q.buy {
		q.buyQty += int64(q.qty)
		q.buyCnt++
	} else {
		q.sellQty += int64(q.qty)
		q.sellCnt++
	}
}

// businessDate is the KST business day of t: the date, or the Friday
// before on a weekend.
func businessDate(t time.Time) string {
	k := t.In(kauth.KST)
	switch k.Weekday() {
	case time.Saturday:
		k = k.AddDate(0, 0, -1)
	case time.Sunday:
		k = k.AddDate(0, 0, -2)
	}
	return k.Format("20060102")
}

func (q *quote) change() int { return q.price - q.prev }

// sign is the KIS and Kiwoom 대비부호 of price against the previous close:
// 1 upper limit, 2 rise, 3 unchanged, 4 lower limit, 5 fall.
func (q *quote) sign() string { return signOf(q.price - q.prev) }

func signOf(d int) string {
	switch {
	case d > 0:
		return "2"
	case d < 0:
		return "5"
	}
	return "3"
}

func (q *quote) rate() string { return pct(int64(q.change()), int64(q.prev)) }

// pct formats 100·a/b with two decimals.
func pct(a, b int64) string {
	if b == 0 {
		return "0.00"
	}
	return fmt.Sprintf("%.2f", float64(a)*100/float64(b))
}

// ask and bid are the i-th (0-based) best prices; asks rise and bids fall
// away from the last price.
func (q *quote) ask(i int) int { return q.price + q.unit*(i+1) }
func (q *quote) bid(i int) int { return q.price - q.unit*i }

// askQty and bidQty are the resting quantities at the i-th level.
func (q *quote) askQty(i int) int { return 100*(i+1) + (q.n*13+i*7)%50 }
func (q *quote) bidQty(i int) int { return 120*(i+1) + (q.n*17+i*11)%50 }

func (q *quote) totals() (ask, bid int64) {
	for i := range 10 {
		ask += int64(q.askQty(i))
		bid += int64(q.bidQty(i))
	}
	return ask, bid
}

// prevVol is the previous day's cumulative volume at the same time.
func (q *quote) prevVol() int64 { return q.vol*9/10 + 1000 }

// strength is 체결강도: buy volume over sell volume, in percent.
func (q *quote) strength() string { return pct(q.buyQty, max(q.sellQty, 1)) }

func (q *quote) avgPrice() int64 {
	if q.vol == 0 {
		return int64(q.price)
	}
	return q.amount / q.vol
}

// market returns the session's quote of code, stepped once per tick: a
// code subscribed under several topics trades once per tick.
func (ws *wsSession) market(code string, now time.Time, stepped map[string]bool) quote {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.quotes == nil {
		ws.quotes = make(map[string]*quote)
	}
	q := ws.quotes[code]
	if q == nil {
		q = newQuote(code)
		ws.quotes[code] = q
	}
	if !stepped[code] {
		stepped[code] = true
		q.step(now)
	}
	return *q
}

func itoa(v int) string     { return strconv.Itoa(v) }
func itoa64(v int64) string { return strconv.FormatInt(v, 10) }
