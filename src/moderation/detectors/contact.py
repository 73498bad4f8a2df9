"""Contact diversion: phone numbers, messenger ids, e-mails, URLs and pointers to them.

Everything runs on ``doc.folded``, which has the received text's length, so regex offsets are
received offsets. Folding already turned full-width, circled and look-alike characters into
ASCII and Chinese numerals inside number runs into digits; separators (spaces, dashes, dots,
❤, 、 …) are still there and are handled here.

Spam disguises domains: a homophone of 点 for the dot (xx典top), a colon or spaces (y27tb:top,
268883.   com), Han-character labels (爆哥.cc), combining marks or keycaps between the characters
(a\u036b7\u036b.\u036bt…, 5\ufe0f\u20e3). Marks are skipped by finding in a copy without them and
mapping the spans back; the disguised dots are accepted only before a TLD that is no word and
after a label that looks like one (a digit in it), so times, decimals and versions stay out.

The finder works on any folded string (``find_contacts``) so the conversation detector can run
it on the joined tails of several messages of one sender.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..matcher import build_matcher
from ..normalize import VIA_ORDER, default_normalizer
from ..types import PATTERN_CATEGORY, Hit

if TYPE_CHECKING:
    from ..normalize import NormalizedText
    from .base import CheckContext

PATTERN = "contact"
CATEGORY = PATTERN_CATEGORY[PATTERN]

# Digits, and Chinese numerals folding may have left alone (a run cut by wide separators).
_NUM = "零〇○一二三四五六七八九幺两壹贰叁肆伍陆柒捌玖"
_NUM_MAP = str.maketrans(
    {c: d for c, d in zip(_NUM, "0001234567891212345678" + "9")}
)
_D = "0-9" + _NUM
# Between two digits of one number: up to three separator characters (space, dash, dot,
# emoji, 、 …) but never a letter, a Han character or a line break.
_SEP = r"(?:[^\w\n]|_)"
_RUN_RE = re.compile(rf"[{_D}](?:{_SEP}{{0,3}}[{_D}]){{4,}}")
_GROUP_RE = re.compile(rf"[{_D}]+")

# Two cheap tests on the common clean text before any finder runs: five digits close together,
# or one of the trigger strings below (one Aho–Corasick pass).
_DIGITS_RE = re.compile(rf"[{_D}](?:{_SEP}{{0,3}}[{_D}]){{4}}")
# Characters read "dian" or drawn like 点 that ad spam writes for the dot of a domain (xx典top).
_DOT_SOUND = "典電电店垫殿淀甸钿佃奠靛滇巅颠踮惦"

# A dot (or a disguise of one) counts only before a top-level domain: its first two letters
# are the trigger (。h, as in 。hello, is ordinary text; 。co may be 。com).
_TLD_HEADS = sorted({t[:2] for t in (
    "com cn net org top xyz vip cc me io app info site club shop link co tk ly hk tw online live fun icu ink "
    "work pro biz wang ltd store tech win bet cyou asia tv one pw sbs edu gov jp uk us de"
).split()})

_TRIGGERS = (
    "vx wx qq tg telegram line wec wei whats ws t.me http hxxp www dot (at) [at] @ ＠ ✈ 微 威 薇 维 唯 徽 "
    "绿泡 绿色 扣扣 抠抠 蔻蔻 叩叩 寇寇 口口 企鹅 球球 丘丘 秋秋 飞机 电报 主页 签名 个签 简介 资料 置顶 "
    "头像 联系方式 加我 加一下 加个好友 加好友 联系我 私我 找我 賴 赖 瓦次 扣 🐧"
).split() + [a + b for a in "vqw" for b in ":：=❤♥💕信芯号群 *.-_~、"] + [
    a + b for a in "加+➕私添的我" for b in "vq"
] + [a + b for a in ".。点:：·" + _DOT_SOUND for b in _TLD_HEADS] + [
    " " + t for t in ("com", "cn", "net", "top", "cc", "vip", "xyz", "one")
] + [a + b for a in "加+" for b in "abcdefghijklmnopqrstuvwxyz"] + [
    # Marks drawn on other characters (see _MARK_RE): the finders must read past them.
    chr(c) for c in [*range(0x300, 0x370), *range(0x20D0, 0x2100), 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF]
]
_TRIGGER_MATCHER = None


def _trigger_matcher():
    global _TRIGGER_MATCHER
    if _TRIGGER_MATCHER is None:
        _TRIGGER_MATCHER = build_matcher(_TRIGGERS)
    return _TRIGGER_MATCHER


def _triggered(f: str) -> bool:
    return bool(_trigger_matcher().find(f)) or _DIGITS_RE.search(f) is not None


# -- keywords ---------------------------------------------------------------------------------

# Keywords that name a channel (plain, and written as homophones); the id follows them.
# Up to two noise characters may sit inside a keyword (V❤信, v x, 微 信, q q).
_KN = r"[\s❤♥💕*.·_\-~、]{0,2}"
_WECHAT_PLAIN = (
    rf"微{_KN}信|wechat|weixin|v{_KN}x|w{_KN}x|v{_KN}信|微x|wei信|微❤|v❤|v♥|v💕"
)
_WECHAT_SOUND = (
    rf"[威薇维唯徽]{_KN}信|威信|薇信|维信|唯信|徽信|为信|危信|卫信|伟信|韦信|未信|微芯|薇芯|威芯|v芯|微星|薇❤|威❤"
    r"|绿泡泡|绿色泡泡|绿色软件|绿色聊天|vⅹ|weix|vxin|wxin|weiixn|(?<!稍)微我"
)
# 裙 for 群 (q裙, 扣裙) and the penguin emoji for QQ are common in spam.
_QQ_PLAIN = rf"qq群|qq号|q群|q号|q{_KN}q|扣群|qq裙|q裙"
_QQ_SOUND = r"扣扣|抠抠|蔻蔻|叩叩|寇寇|口口|企鹅|球球|丘丘|秋秋|扣裙|🐧群|🐧"
_TG = r"telegram|电报|纸飞机|小飞机|飞机号|飞机|✈️?|tg|t\.me/"
_LINE = r"line|賴|赖"
_WHATSAPP = r"whatsapp|whats\s?app|what'?s\s?app|瓦次艾普|ws"

# Every keyword starts with one of these characters: a lookahead on them lets the regex engine
# skip most positions at once instead of trying each alternative there (8x faster).
_KW_FIRST = "wvq扣t电纸小飞✈l賴赖瓦微威薇维唯徽为危卫伟韦未绿抠蔻叩寇口企球丘秋加联私找🐧+➕"
_KW_RE = re.compile(
    rf"(?=[{_KW_FIRST}])"
    rf"(?:(?P<wechat>{_WECHAT_PLAIN})|(?P<wechat_h>{_WECHAT_SOUND})"
    rf"|(?P<qq>{_QQ_PLAIN})|(?P<qq_h>{_QQ_SOUND})"
    rf"|(?P<tg>{_TG})|(?P<line>{_LINE})|(?P<whatsapp>{_WHATSAPP})"
    # A bare v / q after 加, + or ➕, or before a colon or ❤: 加V, ➕v, v❤, q:
    r"|(?P<v>(?:(?<=加)|(?<=\+)|(?<=➕)|(?<=私)|(?<=添)|(?<=的)|(?<=我))v(?![a-z]))"
    r"|(?P<v2>(?<![a-z0-9])v(?=\s*[:：=❤♥💕]|\s+[a-z0-9]))"
    r"|(?P<q>(?:(?<=加)|(?<=\+)|(?<=➕))[q扣](?![a-z扣])|(?<![a-z0-9])q(?=\s*[:：=])|扣(?=\s*[:：]))"
    # 加薇 / ➕威 / 薇：— one character of a WeChat homophone standing for the whole name.
    r"|(?P<wechat_h1>(?:(?<=加)|(?<=\+)|(?<=➕))[薇威维徽](?!信)|[薇威](?=\s*[:：])|(?<=我)[薇威](?=\s?[a-z0-9]))"
    # 微 alone right before an id that starts with a letter (加我微ab1234): short for 微信.
    r"|(?P<wechat_w>(?<!稍)微(?=\s?[:：]?\s?[a-z]))"
    r"|(?P<addme>加我|加一下|加个好友|加好友|联系我|私我|找我|联系方式)"
    # A plus right before an id of letters and digits (➕xhj558200): "add" without a channel.
    r"|(?P<plus>(?:(?<![a-z0-9+])[+➕]|(?<![参更增追附叠施外])加)(?=\s?[a-z][a-z0-9_\-]{2,}[0-9])))"
)
# After the keyword, before the id: 号, 是, colon, arrows, 搜, 加, 同号 …
_FILLER_RE = re.compile(
    r"(?:[\s:：=＝>→⇒~～\-—_.。,，、(（\[【{「『\"'“”‘’|/❤♥💕*#]"
    r"|号码|号|帐号|账号|id|是|为|搜索|搜|加|我|的|私|在|同|手机|个人|联系方式|联系|多少|号是|呢|吧|呀|啊|哦|噢|哈|嘛|啦|好友|一下|详聊|详谈|私聊|聊聊|聊|沟通|交流)*"
)
# An id: alphanumeric chunks, possibly split by single separators (abc 123-456, a.b_c).
_ID_RE = re.compile(
    rf"[a-z0-9_{_NUM}](?:[a-z0-9_\-{_NUM}]|[\s.·•❤♥*、](?=[a-z0-9_{_NUM}]))*"
)
_TG_HANDLE_RE = re.compile(r"@?[a-z][a-z0-9_]{3,31}")

# Plain English words that follow "line"/"qq" etc. and are not ids.
_NOT_IDS = {
    "hello", "thanks", "thank", "group", "share", "login", "about", "please", "later", "ok",
    "okay", "sorry", "china", "with", "online", "dating", "pay", "app", "android", "iphone",
    "number", "account", "haha", "hahaha", "friend", "friends", "video", "chat", "call",
    "music", "games", "store", "official", "wechat", "weixin", "qqmail", "none",
}
# Units and words right after a number that make it a quantity, not an id.
_UNIT_AFTER = re.compile(
    r"\s*(?:年|月|日|号|岁|周岁|元|块|毛|角|万|千|百|亿|w|k|cm|mm|kg|g|斤|公斤|克|米|厘米|个|次|天|"
    r"小时|分钟|分|秒|人|位|条|张|件|份|单|楼|层|平|㎡|%|％|度|rmb|¥)",
)
_MONEY_BEFORE = re.compile(r"(?:[¥￥$＄]|rmb|价|价格|收入|月入|年入|月薪|年薪|工资|存款|花了|赚了|转了|付了)\s*$")
# Numbers named as something else: order numbers, ids, codes, tracking numbers.
_NOT_PHONE_BEFORE = re.compile(
    r"(?:订单|单号|运单|快递|编号|工号|学号|身份证|证件|卡号|尾号|验证码|流水号|票号|发票|合同|批号|序列号|"
    r"房号|车牌|车次|航班|账户|户号|会员号|邮编|型号|价格|售价|金额|余额|积分|编码|no|id|#)"
    r"[\s:：号为是]*$"
)
_PHONE_KW_BEFORE = re.compile(
    r"(?:电话|手机|手机号|号码|座机|热线|致电|来电|打我|打给我|call|tel|phone|mobile|联系|whatsapp|ws|"
    r"line|telegram|tg|飞机|微信|vx|wx)[^\n]{0,6}$"
)
_WHATSAPP_BEFORE = re.compile(r"(?:whatsapp|whats\s?app|what'?s\s?app|ws)[^\n]{0,6}$")

_EMAIL_RE = re.compile(
    r"(?=[a-z0-9])(?<![a-z0-9._%+\-])[a-z0-9][a-z0-9._%+\-]{0,63}(?:\s?(?:@|\(at\)|\[at\]|艾特|圈a)\s?|\s+at\s+)"
    r"[a-z0-9][a-z0-9\-]{0,62}(?:\s?(?:\.|点|dot|。)\s?[a-z0-9\-]{1,63})*?"
    r"\s?(?:\.|点|dot|。)\s?(?:com|cn|net|org|edu|gov|io|me|cc|top|xyz|vip|hk|tw|jp|co|uk|us|de|info|biz)"
    r"(?![a-z0-9])"
)
_TLD = (
    r"com|cn|net|org|top|xyz|vip|cc|me|io|app|info|site|club|shop|link|co|tk|ly|hk|tw|"
    r"online|live|fun|icu|ink|work|pro|biz|wang|ltd|store|tech|win|bet|cyou|asia|tv|one|pw|sbs"
)
# Top-level domains that are not English or pinyin words: only these count after a disguised dot
# (a colon, spaces around the dot, a homophone of 点) or after a Han-character label.
_TLD_STRICT = frozenset(
    "com cn net org top xyz vip cc club site shop wang ltd info one icu cyou online store tech bet asia pw sbs".split()
)
_URL_RE = re.compile(
    r"(?=[a-z0-9])(?:(?:https?|hxxp)\s?[:：]\s?/\s?/\s?[^\s\u3400-\u9fff，。！？、]+"
    r"|www\s?(?:\.|点|dot|。)\s?[a-z0-9\-]+(?:\s?(?:\.|点|dot|。)\s?[a-z0-9\-]+)+(?:/[^\s\u3400-\u9fff，。！？、]*)?"
    rf"|(?<![a-z0-9@\-_.])[a-z0-9][a-z0-9\-]{{0,62}}(?:\.[a-z0-9\-]{{1,63}})*"
    rf"(?:\.|\s\.\s?|点|\s?dot\s?|。)(?:{_TLD})(?![a-z0-9])(?:/[^\s\u3400-\u9fff，。！？、]*)?)"
)
# Domains with a disguised dot: y27tb:top, 268883.   com, 735ds典top. Found from the separator
# (cheap to look for), then the label before it; checked further in ``_loose_domain_ok``.
_LOOSE_SEP_RE = re.compile(
    rf"(?=[{_DOT_SOUND}:：·.。\s])"
    rf"(?P<sep>[{_DOT_SOUND}:：·]|\s{{1,3}}(?:[{_DOT_SOUND}]|[.。]\s{{0,3}})|[.。]\s{{1,3}})\s?(?=[a-z])(?P<tld>{_TLD})(?![a-z0-9])"
)
_LABEL_BEFORE_RE = re.compile(r"(?<![a-z0-9@\-_.])[a-z0-9][a-z0-9\-]{1,62}$")
# Cheap test before the loose finders: a disguised dot, a spaced dot, a dot before a letter.
_LOOSE_PRE = re.compile(rf"[{_DOT_SOUND}:：·]|\s[.。]|[.。]\s|\.[a-z]")
# Han-character labels (爆哥.cc): found from the dot backwards, up to four characters.
_HAN_DOMAIN_RE = re.compile(rf"\.(?P<htld>{_TLD})(?![a-z0-9])")
_POINTER_RE = re.compile(
    r"(?=[看见瞧点主签个简资置头联vqw微号])(?:(?:看|见|瞧|点)(?:我的?|一下)?(?:主页|签名|个签|个性签名|简介|资料|置顶|空间|朋友圈)"
    r"|(?:主页|签名|个签|个性签名|简介|资料|置顶|头像)(?:里|上|中)?(?:有|见|看|留了?)"
    r"(?:我的?)?(?:联系方式|联系|v|vx|wx|微|q|qq|扣|号|飞机|tg|line|电话|方式)"
    r"|(?:联系方式|v|vx|微信|qq|号)(?:在|见)(?:我的?)?(?:主页|签名|个签|简介|资料|头像|置顶))"
)


@dataclass(frozen=True, slots=True)
class Found:
    """One contact found in a folded string: span, rule, explanation, homophone keyword?"""

    start: int
    end: int
    rule: str
    detail: str
    severity: str = "high"
    homophone: bool = False


def _digits(s: str) -> str:
    return "".join(ch for ch in s.translate(_NUM_MAP) if ch.isdigit())


def _classify_phone(ds: str, plus: bool, kw: bool, first_group: str) -> str | None:
    """The phone rule a digit string satisfies, or None."""
    n = len(ds)
    if ds.startswith("0086"):
        ds, plus, n = ds[2:], True, n - 2
    if ds.startswith("86") and n == 13 and re.fullmatch(r"1[3-9]\d{9}", ds[2:]):
        return "contact.phone.cn_mobile"
    if plus:
        if ds.startswith("852") and n == 11 and ds[3] in "235679":
            return "contact.phone.hk"
        if ds.startswith("853") and n == 11:
            return "contact.phone.mo"
        if ds.startswith("886") and 11 <= n <= 12:
            return "contact.phone.tw"
        if 8 <= n <= 15 and ds[0] != "0":
            return "contact.phone.intl"
        return None
    if n == 11 and re.fullmatch(r"1[3-9]\d{9}", ds):
        return "contact.phone.cn_mobile"
    if n == 10 and ds.startswith("09"):
        return "contact.phone.tw"
    if 10 <= n <= 12 and ds[0] == "0" and ds[1] != "0":
        # A landline: 0 + area code (2–3 digits) + 7–8 digits, written with the area code as
        # its own group, or named as a phone.
        if kw or (3 <= len(first_group) <= 4 and first_group[0] in "0零〇○"):
            return "contact.phone.cn_landline"
        return None
    if kw:
        if n == 8 and ds[0] in "235679":
            return "contact.phone.hk_or_local"
        if n in (7, 8) and ds[0] != "0":
            return "contact.phone.local"
        if ds.startswith(("400", "800")) and n == 10:
            return "contact.phone.service"
    return None


def _find_phones(f: str, found: list[Found]) -> None:
    for m in _RUN_RE.finditer(f):
        groups = [(g.start(), g.end(), _digits(g.group())) for g in _GROUP_RE.finditer(f, m.start(), m.end())]
        groups = [g for g in groups if g[2]]
        if len(groups) > 16:
            groups = groups[:16]
        i = 0
        while i < len(groups):
            hit = None
            for j in range(len(groups) - 1, i - 1, -1):
                ds = "".join(g[2] for g in groups[i:j + 1])
                if len(ds) < 7 or len(ds) > 16:
                    continue
                s, e = groups[i][0], groups[j][1]
                # The number must not be glued to letters (an id like abc13812345678 is
                # found as an id, not here) or continue as a longer number.
                if s > 0 and f[s - 1].isascii() and f[s - 1].isalnum():
                    continue
                if s > 1 and f[s - 1] == "." and f[s - 2].isdigit():
                    continue  # the fraction of a decimal number (3.14159265358)
                if e < len(f) and f[e].isascii() and f[e].isalnum() and not _UNIT_AFTER.match(f, e):
                    continue
                before = f[max(0, s - 12):s]
                plus_at = _plus_before(f, s)
                if _NOT_PHONE_BEFORE.search(before) or _MONEY_BEFORE.search(before):
                    continue
                if _UNIT_AFTER.match(f, e) and not f.startswith(("号", "号码"), e):
                    continue
                kw = bool(_PHONE_KW_BEFORE.search(f[max(0, s - 16):s]))
                rule = _classify_phone(ds, plus_at is not None, kw, f[groups[i][0]:groups[i][1]])
                if rule is None:
                    continue
                if _WHATSAPP_BEFORE.search(f[max(0, s - 16):s]):
                    rule = "contact.whatsapp"
                hit = Found(plus_at if plus_at is not None else s, e, rule, f"phone number ({len(ds)} digits)")
                i = j + 1
                break
            if hit is None:
                i += 1
            else:
                found.append(hit)


def _plus_before(f: str, s: int) -> int | None:
    k = s - 1
    while k >= 0 and f[k] in " (（":
        k -= 1
    if k >= 0 and f[k] in "+➕":
        return k
    return None


_CHANNEL_NAME = {
    "wechat": "WeChat", "qq": "QQ", "tg": "Telegram", "line": "LINE", "whatsapp": "WhatsApp",
    "addme": "add-me", "plus": "add-me",
}


def _valid_id(channel: str, idtxt: str) -> bool:
    n = len(idtxt)
    digits = sum(ch.isdigit() for ch in idtxt)
    letters = sum(ch.isalpha() for ch in idtxt)
    if idtxt in _NOT_IDS:
        return False
    if channel == "qq":
        return digits == n and 5 <= n <= 11 and idtxt[0] != "0"
    if channel == "line":
        return 3 <= n <= 20 and letters > 0 or (digits == n and 6 <= n <= 15)
    if channel == "tg":
        return 5 <= n <= 32 and idtxt[0].isalpha() or (digits == n and 7 <= n <= 15)
    if channel == "whatsapp":
        return digits >= 7
    if channel == "plus":
        return digits >= 3 and letters >= 2 and 6 <= n <= 20
    if channel == "addme":
        # 加我 + something: only clearly id-shaped things (digits, or letters with digits).
        return (digits == n and 5 <= n <= 15) or (digits >= 2 and letters >= 2 and 6 <= n <= 20)
    # wechat
    if digits == n:
        return 5 <= n <= 15
    if letters == n:
        return 6 <= n <= 20
    return 5 <= n <= 30 and letters > 0


def _find_ids(f: str, found: list[Found]) -> None:
    for m in _KW_RE.finditer(f):
        kind = m.lastgroup or ""
        word = m.group()
        # A Latin keyword must start a word: "view x" holds no "w x", "twx" no "wx".
        if word[0].isascii() and word[0].isalpha() and kind not in ("v", "q"):
            if m.start() > 0 and f[m.start() - 1].isascii() and f[m.start() - 1].isalpha():
                continue
        homophone = kind in ("wechat_h", "wechat_h1", "qq_h") or (kind == "q" and "扣" in word)
        channel = {"wechat_h": "wechat", "wechat_h1": "wechat", "wechat_w": "wechat", "qq_h": "qq", "v": "wechat", "v2": "wechat", "q": "qq"}.get(kind, kind)
        pos = _FILLER_RE.match(f, m.end()).end()
        if pos - m.end() > 10:
            continue
        # 微信同号 / 微信同手机: the id is the phone number that follows; the phone finder and
        # the id both cover it, the id hit names the channel.
        idm = (_TG_HANDLE_RE if channel == "tg" and f.startswith("@", pos) else _ID_RE).match(f, pos)
        if idm is None:
            continue
        raw = idm.group()
        idtxt = re.sub(r"[\s.·•❤♥*、@\-_]", "", raw.translate(_NUM_MAP)) if channel != "tg" else raw.lstrip("@")
        if channel in ("qq", "addme", "plus", "whatsapp") or idtxt.isdigit():
            idtxt_cmp = re.sub(r"[^0-9a-z]", "", idtxt)
        else:
            idtxt_cmp = idtxt
        if channel == "line" and not (m.start() > 0 and f[m.start() - 1] in "加添" or f[m.end():pos].strip(" ")[:1] in (":", "：", "i", "=")):
            continue  # "line" the English word
        if not _valid_id(channel, idtxt_cmp):
            continue
        if channel == "plus" and word == "加" and sum(ch.isdigit() for ch in idtxt_cmp) < 5:
            continue  # 加 + a short code is often a product (电脑加rtx4090); ➕ folds to 加 too
        if idtxt_cmp.isalpha() and re.search(r"[a-z]\s+[a-z]", raw):
            continue  # words after the keyword (wechat me please), not an id in pieces
        e = idm.end()
        if idtxt_cmp.isdigit() and len(idtxt_cmp) <= 8 and _UNIT_AFTER.match(f, e):
            continue
        if e < len(f) and f[e] in "@＠":
            continue  # the local part of an e-mail address
        rule = {"addme": "contact.add_me", "plus": "contact.add_me", "tg": "contact.telegram"}.get(channel, f"contact.{channel}")
        name = _CHANNEL_NAME.get(channel, channel)
        detail = f"{name} keyword {word!r} followed by an id"
        if homophone:
            detail = f"{name} written as {word!r} (homophone) followed by an id"
        sev = "high" if channel not in ("addme", "plus") else "medium"
        found.append(Found(m.start(), e, rule, detail, sev, homophone))
    # @handle on its own: a Telegram/Instagram style handle.
    for m in re.finditer(r"(?<![a-z0-9._%+\-])@([a-z][a-z0-9_]{4,31})(?![a-z0-9_.@])", f):
        found.append(Found(m.start(), m.end(), "contact.handle", "@handle of another messenger", "medium"))


def _find_addresses(f: str, found: list[Found]) -> None:
    has_at = "@" in f or "at" in f or "艾特" in f or "圈a" in f
    for m in _EMAIL_RE.finditer(f) if has_at else ():
        found.append(Found(m.start(), m.end(), "contact.email", "e-mail address"))
    for m in _URL_RE.finditer(f):
        s, e = m.start(), m.end()
        while e > s and f[e - 1] in ".,;:!?)]}'\"。":
            e -= 1
        text = f[s:e]
        label = re.split(r"\s?(?:\.|点|dot|。)", text)[0]
        if not text.startswith(("http", "hxxp", "www")) and label.isdigit() and len(label) < 3:
            continue  # "1.cn"-like fragments of numbers
        rule = "contact.telegram_link" if "t.me/" in text else "contact.url"
        found.append(Found(s, e, rule, "link or domain name"))
    if _LOOSE_PRE.search(f):
        for m in _LOOSE_SEP_RE.finditer(f):
            lm = _LABEL_BEFORE_RE.search(f, max(0, m.start() - 63), m.start())
            if lm is not None and _loose_domain_ok(lm.group(), f[m.start():m.start("tld")], m.group("tld")):
                found.append(Found(lm.start(), m.end(), "contact.url", "domain name with a disguised dot"))
        for m in _HAN_DOMAIN_RE.finditer(f):
            # 学习.net开发: .net is the framework after a Han word; the others are no words.
            if m.group("htld") not in _TLD_STRICT or m.group("htld") == "net" or not (
                    m.start() > 0 and _HAN_RE.match(f[m.start() - 1])):
                continue
            s = m.start()
            while s > 0 and m.start() - s < 4 and _HAN_RE.match(f[s - 1]):
                s -= 1
            if s > 0 and f[s - 1] in ".-_":
                continue
            found.append(Found(s, m.end(), "contact.url", "domain name with a Han-character label"))
    for m in _POINTER_RE.finditer(f):
        found.append(Found(m.start(), m.end(), "contact.pointer", "points to contact details elsewhere on the profile", "medium"))


def _loose_domain_ok(label: str, sep: str, tld: str) -> bool:
    """Whether a label, a disguised dot and a TLD make a domain, not a time, a decimal, a
    version, a file name or a sentence (3:30, 1.5, v1.2, photo.jpg, "you. me")."""
    has_digit = any(ch.isdigit() for ch in label)
    if label.isdigit() and len(label) < 3:
        return False
    core = sep.strip()
    if core in (".", "。"):
        # The plain forms (a.com, "a . com", a。com) are the strict regex's; here only a dot
        # with more spaces around it, before a TLD that is no word, after a label with a digit.
        return sep not in (".", "。", " .", " . ") and tld in _TLD_STRICT and has_digit
    if core in (":", "：", "·"):
        return tld in _TLD_STRICT and has_digit and any(ch.isalpha() for ch in label) or (
            tld in _TLD_STRICT and label.isdigit() and len(label) >= 5)
    # A homophone of 点: a TLD that is no word, or a label of three or more with a digit (5G电tv).
    return tld in _TLD_STRICT or (has_digit and len(label) >= 3)


_HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")


# Full-width punctuation folding leaves alone (it keeps only letters and digits); one to one.
_PUNCT = str.maketrans("＠．：／－＿＋（）。｡", "@.:/-_+()。。")


# Marks that draw nothing of their own: combining accents and lines (a\u036b7\u036b…, 7\u0332),
# emoji variation selectors and the keycap (5\ufe0f\u20e3), zero-width characters. Spam puts them
# between the characters of an id; the finders read the text without them.
_MARK_RE = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f"
    "\ufe20-\ufe2f\u200b-\u200d\u2060\ufeff]+"
)


def find_contacts(f: str, triggered: bool = False) -> list[Found]:
    """All contact details in the folded string ``f``, non-overlapping, in order (callers must
    not change the list: the last result is kept for the next call on the same string).

    ``triggered=True`` skips the trigger test (a caller that ran it already)."""
    global _LAST
    last = _LAST
    if last[0] is f:
        return last[1]  # the scam detector asks again about the text the contact detector read
    out = _find_contacts_uncached(f, triggered)
    _LAST = (f, out)
    return out


# The last string find_contacts read and what it found, as one tuple (replaced whole, so a
# thread never sees one string with another's result).
_LAST: tuple[str | None, list] = (None, [])


def _find_contacts_uncached(f: str, triggered: bool) -> list[Found]:
    if not triggered and not _triggered(f):
        return []  # the triggers include the common marks: a text with none has nothing here
    if _MARK_RE.search(f) is None:
        found = _find_contacts(f, triggered=True)
    else:
        # Find in the string without the marks, then map the spans back (a span takes the
        # marks that follow its last character).
        found = _found_in(f, [i for i, ch in enumerate(f) if not _MARK_RE.match(ch)], _MARK_RE)
    if found or _SPACED_RE.search(f) is None:
        return found
    # Written out one character at a time (扣 扣 2 0 2 8 0 1 7 2 5 7, 加.我.微. .信.l.u.c.k.y):
    # find again with the separators inside such runs left out.
    return _found_in(f, _spaced_keep(f), _SPACED_SEP_RE)


# Runs of single characters each followed by one to three separators, at least six characters
# long: text spaced out so that neither keywords nor ids read as words.
_SPACED_SEP = r"[\s.·_\-~、,，*|/]"
_SPACED_RE = re.compile(rf"(?:[^\W_]{_SPACED_SEP}{{1,3}}){{5,}}[^\W_]")
_SPACED_SEP_RE = re.compile(_SPACED_SEP)


def _spaced_keep(f: str) -> list[int]:
    """Indexes of ``f`` without the separators inside its spaced-out runs."""
    drop: set[int] = set()
    for m in _SPACED_RE.finditer(f):
        drop.update(i for i in range(m.start(), m.end()) if _SPACED_SEP_RE.match(f[i]))
    return [i for i in range(len(f)) if i not in drop]


def _found_in(f: str, keep: list[int], dropped: re.Pattern[str]) -> list[Found]:
    """Contact details found in ``f`` read without the characters not in ``keep``, with their
    spans in ``f`` (a span takes the dropped characters that follow its last character)."""
    out = []
    kept: set[int] | None = None
    for x in _find_contacts("".join(f[i] for i in keep)):
        s, e = keep[x.start], keep[x.end - 1] + 1
        if kept is None:
            kept = set(keep)
        while e < len(f) and e not in kept and dropped.match(f[e]):
            e += 1
        out.append(Found(s, e, x.rule, x.detail, x.severity, x.homophone))
    return out


def _find_contacts(f: str, triggered: bool = False) -> list[Found]:
    if not triggered and not _triggered(f):
        return []
    f = f.translate(_PUNCT)
    found: list[Found] = []
    _find_ids(f, found)
    _find_addresses(f, found)
    _find_phones(f, found)
    if not found:
        return []
    # Keep the most specific hit where several overlap: ids and addresses over bare phones,
    # longer over shorter.
    rank = {"contact.email": 4, "contact.url": 3, "contact.telegram_link": 3}
    order = sorted(
        found,
        key=lambda h: (-(rank.get(h.rule, 2 if not h.rule.startswith("contact.phone") else 1) if h.severity == "high" else 0),
                       -(h.end - h.start), h.start),
    )
    kept: list[Found] = []
    for h in order:
        if all(h.end <= k.start or h.start >= k.end for k in kept):
            kept.append(h)
    kept.sort(key=lambda h: h.start)
    return kept


_WIDTH_SEPS = set(" :：-_.@/+")


def via_for(doc: "NormalizedText", s: int, e: int, homophone: bool = False) -> tuple[str, ...]:
    """Names of the normalizations a received span needed, in the engine's order."""
    via: set[str] = set()
    # Only the span: translating the whole text for every hit made long texts quadratic.
    o, f = doc.original[s:e], doc.folded[s:e].translate(_PUNCT)
    if o != f:
        kind = default_normalizer().fold_kind
        for c, fc in zip(o, f):
            if c == fc:
                continue
            if not fc.isalnum():
                # Full-width ＠．／－ disguise; ：（） are ordinary Chinese punctuation.
                if fc in "@./-_+":
                    via.add("width")
                continue
            if c in _NUM or (fc.isdigit() and not c.isdigit() and kind.get(ord(c)) is None):
                via.add("numeral")
            else:
                k = kind.get(ord(c))
                if k and k != "case":
                    via.add(k)
    # Separators beyond plain spaces, dashes, dots and colons between the characters.
    if any(not ch.isalnum() and ch not in _WIDTH_SEPS and not ch.isspace() for ch in f):
        via.add("noise")
    if homophone:
        via.add("homophone")
    return tuple(v for v in VIA_ORDER if v in via)


class ContactDetector:
    """Finds phone numbers, messenger ids, e-mails, URLs and pointers to them."""

    name = "contact"

    @staticmethod
    def batch_triggers(views) -> dict[int, None]:
        """The texts of a joined chunk that ``_triggered`` would pass (neither the trigger
        strings nor the digit runs can reach across the separator, a letter)."""
        at = views.folded_index
        f = views.folded
        got = dict.fromkeys(at(s) for s, _, _ in _trigger_matcher().find(f))
        got.update(dict.fromkeys(at(m.start()) for m in _DIGITS_RE.finditer(f)))
        return got

    def find_batched(self, doc: "NormalizedText", ctx: "CheckContext", _: None) -> list[Hit]:
        """``find`` for a text ``batch_triggers`` named: the trigger test is already done."""
        found = find_contacts(doc.folded, triggered=True)
        return [to_hit(doc, x) for x in found] if found else []

    def find(self, doc: "NormalizedText", ctx: "CheckContext") -> list[Hit]:
        found = find_contacts(doc.folded)
        return [to_hit(doc, x) for x in found] if found else []


def to_hit(doc: "NormalizedText", x: Found, context: tuple[str, ...] = (), detail: str | None = None) -> Hit:
    return Hit(
        start=x.start, end=x.end, text=doc.original[x.start:x.end], category=CATEGORY,
        rule=x.rule, severity=x.severity, pattern=PATTERN,
        via=via_for(doc, x.start, x.end, x.homophone), detail=detail or x.detail, context=context,
    )
