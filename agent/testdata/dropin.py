import json, os, pathlib, requests, threading
from collections import namedtuple

PORT = os.environ.get("PORT", "8700")
key = (pathlib.Path(os.environ["KAUTH_CACHE_DIR"]) / "agent.key").read_text().strip()
KIS = f"http://127.0.0.1:{PORT}/broker/{key}/kis-mock"        # kis_devlp.yaml  vps: …
KIWOOM = f"http://127.0.0.1:{PORT}/broker/{key}/kiwoom-mock"  # Kiwoom SDK      MOCK=…
base = {"Content-Type": "application/json", "Accept": "text/plain", "charset": "UTF-8"}

# kis_auth.py auth(): placeholders instead of the real appkey/appsecret.
p = {"grant_type": "client_credentials", "appkey": "placeholder", "appsecret": "placeholder"}
t = requests.post(f"{KIS}/oauth2/tokenP", data=json.dumps(p), headers=base).json()
print("tokenP:", t["token_type"], t["access_token_token_expired"], "expires_in", t["expires_in"])
h = dict(base, authorization="Bearer " + t["access_token"], appkey="placeholder", appsecret="placeholder")

# kis_auth.py APIResp._setHeader: the lowercase header names, as a namedtuple.
def header(res):
    fld = {x: res.headers.get(x) for x in res.headers.keys() if x.islower()}
    return namedtuple("header", fld.keys())(**fld)

r = requests.get(f"{KIS}/uapi/domestic-stock/v1/quotations/inquire-price",
                 params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"},
                 headers=dict(h, tr_id="FHKST01010100", custtype="P", tr_cont=""))
print("quote:", r.json()["output"]["stck_prpr"], "header fields:", header(r)._fields)

tr_cont, fk, nk, rows = "", "", "", 0
while True:
    q = {"CANO": "50000000", "ACNT_PRDT_CD": "01", "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "02",
         "UNPR_DVSN": "01", "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00",
         "CTX_AREA_FK100": fk, "CTX_AREA_NK100": nk}
    r = requests.get(f"{KIS}/uapi/domestic-stock/v1/trading/inquire-balance", params=q,
                     headers=dict(h, tr_id="VTTC8434R", custtype="P", tr_cont=tr_cont))
    b = r.json(); rows += len(b["output1"])
    print("balance page: tr_cont", header(r).tr_cont, "rows", len(b["output1"]))
    if header(r).tr_cont not in ("F", "M"):
        break
    tr_cont, fk, nk = "N", b["ctx_area_fk100"], b["ctx_area_nk100"]
print("holdings:", rows)

r = requests.post(f"{KIS}/uapi/hashkey", data=json.dumps({"CANO": "50000000", "PDNO": "005930"}), headers=h)
print("hashkey:", r.json()["HASH"][:12] + "…")
a = requests.post(f"{KIS}/oauth2/Approval", headers=base,
                  data=json.dumps({"grant_type": "client_credentials", "appkey": "x", "secretkey": "y"}))
print("approval_key:", a.json()["approval_key"][:8] + "…")
r = requests.post(f"{KIS}/oauth2/revokeP", headers=base,
                  data=json.dumps({"appkey": "x", "appsecret": "y", "token": t["access_token"]}))
print("revokeP:", r.json())

# Ten bots starting at once.
got = []
def bot():
    got.append(requests.post(f"{KIS}/oauth2/tokenP", data=json.dumps(p), headers=base).json()["access_token"])
bots = [threading.Thread(target=bot) for _ in range(10)]
[b.start() for b in bots]; [b.join() for b in bots]
print("ten bots, distinct tokens:", len(set(got)), "same as before:", got[0] == t["access_token"])

# Kiwoom SDK (kiwoom/core/auth.py, client.py).
k = requests.post(f"{KIWOOM}/oauth2/token", headers={"Content-Type": "application/json;charset=UTF-8"},
                  json={"grant_type": "client_credentials", "appkey": "x", "secretkey": "y"}).json()
print("au10001:", k["return_code"], k["token_type"], k["expires_dt"])
kh = {"Content-Type": "application/json;charset=UTF-8", "authorization": "Bearer " + k["token"]}
cont, nxt, pages = None, None, 0
while True:
    extra = {"cont-yn": cont, "next-key": nxt} if cont else {}
    r = requests.post(f"{KIWOOM}/api/dostk/acnt", json={"qry_tp": "1", "dmst_stex_tp": "KRX"},
                      headers=dict(kh, **{"api-id": "kt00018"}, **extra))
    pages += 1
    cont, nxt = r.headers.get("cont-yn"), r.headers.get("next-key")
    print("kt00018 page", pages, {n: r.headers[n] for n in r.headers.keys() if n in ("api-id", "cont-yn", "next-key")})
    if cont != "Y":
        break
r = requests.post(f"{KIWOOM}/oauth2/revoke", headers={"Content-Type": "application/json;charset=UTF-8"},
                  json={"appkey": "x", "secretkey": "y", "token": k["token"]})
print("au10002:", r.json())
