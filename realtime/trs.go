package realtime

import "github.com/kauth/kauth"

// kisTRs are the real-time tr_ids KIS publishes: every tr_id the official
// samples subscribe (koreainvestment/open-trading-api,
// examples_user/*/*_functions_ws.py and legacy/websocket/python/*.py):
// domestic stocks on KRX (H0ST…), NXT (H0NX…) and both (H0UN…), indices
// (H0UP…), ELW (H0EW…), ETF NAV, bonds (H0B…), domestic futures and options
// (H0IF…, H0IO…, H0ZF…, H0ZO…, H0CF…, H0MF…, H0EU…), overseas stocks
// (HDFS…, H0GS…) and overseas futures and options (HDFF…). The mock
// execution notices end in 9.
var kisTRs = set(
	// 국내주식: 체결가, 호가, 체결통보(모의 9), 예상체결, 장운영정보,
	// 회원사, 프로그램매매, 시간외 체결/호가/예상체결
	"H0STCNT0", "H0STASP0", "H0STCNI0", "H0STCNI9", "H0STANC0", "H0STMKO0",
	"H0STMBC0", "H0STPGM0", "H0STOUP0", "H0STOAA0", "H0STOAC0", "H0STNAV0",
	"H0NXCNT0", "H0NXASP0", "H0NXANC0", "H0NXMKO0", "H0NXMBC0", "H0NXPGM0",
	"H0UNCNT0", "H0UNASP0", "H0UNANC0", "H0UNMKO0", "H0UNMBC0", "H0UNPGM0",
	"H0UPCNT0", "H0UPANC0", "H0UPPGM0",
	"H0EWCNT0", "H0EWASP0", "H0EWANC0",
	"H0BJCNT0", "H0BJASP0", "H0BICNT0",
	// 국내선물옵션
	"H0IFCNT0", "H0IFASP0", "H0IFCNI0", "H0IFCNI9", "H0IOCNT0", "H0IOASP0",
	"H0ZFCNT0", "H0ZFASP0", "H0ZFANC0", "H0ZOCNT0", "H0ZOASP0", "H0ZOANC0",
	"H0CFCNT0", "H0CFASP0", "H0MFCNT0", "H0MFASP0", "H0MFCNI0",
	"H0EUCNT0", "H0EUASP0", "H0EUANC0", "H0EUCNI0",
	// 해외주식, 해외선물옵션
	"HDFSCNT0", "HDFSASP0", "HDFSASP1", "H0GSCNI0", "H0GSCNI9",
	"HDFFF010", "HDFFF020", "HDFFF1C0", "HDFFF2C0",
)

// kiwoomTypes are the real-time types Kiwoom publishes (its REST API guide,
// 국내주식 WEBSOCKET 실시간시세, "TR명" list of 18): 00 주문체결, 04 잔고,
// 0A 주식기세, 0B 주식체결, 0C 주식우선호가, 0D 주식호가잔량, 0E
// 주식시간외호가, 0F 주식당일거래원, 0G ETF NAV, 0H 주식예상체결, 0J 업종지수,
// 0U 업종등락, 0g 주식종목정보, 0m ELW 이론가, 0s 장시작시간, 0u ELW 지표,
// 0w 종목프로그램매매, 1h VI발동/해제.
var kiwoomTypes = set("00", "04", "0A", "0B", "0C", "0D", "0E", "0F", "0G", "0H",
	"0J", "0U", "0g", "0m", "0s", "0u", "0w", "1h")

func set(ids ...string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// Published reports whether id is a real-time feed that broker b publishes:
// a KIS tr_id (H0STCNT0…) or a Kiwoom type (0B…). A subscription to any
// other id would take one of the session's few slots for nothing.
func Published(b kauth.Broker, id string) bool {
	switch b {
	case kauth.KIS:
		return kisTRs[id]
	case kauth.Kiwoom:
		return kiwoomTypes[id]
	}
	return false
}
