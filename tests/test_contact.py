"""Contact-diversion detector: tables of expected spans, and negatives that only look like it."""
from __future__ import annotations

import pytest

from moderation import CheckContext, Moderator, normalize
from moderation.detectors.contact import ContactDetector, find_contacts

DET = ContactDetector()


def hits(text: str):
    out = DET.find(normalize(text), CheckContext())
    for h in out:
        assert text[h.start:h.end] == h.text
        assert h.category == "fraud" and h.pattern == "contact"
    return out


# (text, [(expected span text, rule)], expected via of the first hit or None to skip)
POSITIVES = [
    ("加我薇信：lucky_girl1995", [("薇信：lucky_girl1995", "contact.wechat")], ("homophone",)),
    ("我的微信号是 abc-123-456", [("微信号是 abc-123-456", "contact.wechat")], ()),
    ("VX：Lucky_Girl_88", [("VX：Lucky_Girl_88", "contact.wechat")], ()),
    ("ｗｘ：ｈｅｌｌｏ１２３４", [("ｗｘ：ｈｅｌｌｏ１２３４", "contact.wechat")], ("width",)),
    ("wei信 zhang_san_99", [("wei信 zhang_san_99", "contact.wechat")], None),
    ("绿泡泡 cutegirl520", [("绿泡泡 cutegirl520", "contact.wechat")], ("homophone",)),
    ("威信：abc12345", [("威信：abc12345", "contact.wechat")], ("homophone",)),
    ("微信同号13912345678", [("微信同号13912345678", "contact.wechat")], ()),
    ("加微信：一三九一二三四五六七八", [("微信：一三九一二三四五六七八", "contact.wechat")], ("numeral",)),
    ("加V：abc123456", [("V：abc123456", "contact.wechat")], None),
    ("➕v abc_123", [("v abc_123", "contact.wechat")], None),
    ("v❤ hello2023", [("v❤ hello2023", "contact.wechat")], None),
    ("微❤ ab123456", [("微❤ ab123456", "contact.wechat")], ("noise",)),
    ("我的电话13812345678", [("13812345678", "contact.phone.cn_mobile")], ()),
    ("+86 138 1234 5678", [("+86 138 1234 5678", "contact.phone.cn_mobile")], None),
    ("我的号码+8613812345678", [("+8613812345678", "contact.phone.cn_mobile")], ()),
    ("电话：138 1234 5678 随时打", [("138 1234 5678", "contact.phone.cn_mobile")], ()),
    ("手机 139-1234-5678", [("139-1234-5678", "contact.phone.cn_mobile")], ()),
    ("138.1234.5678", [("138.1234.5678", "contact.phone.cn_mobile")], ()),
    ("138❤1234❤5678", [("138❤1234❤5678", "contact.phone.cn_mobile")], ("noise",)),
    ("1 3 8 1 2 3 4 5 6 7 8", [("1 3 8 1 2 3 4 5 6 7 8", "contact.phone.cn_mobile")], ()),
    ("１３８－１２３４－５６７８", [("１３８－１２３４－５６７８", "contact.phone.cn_mobile")], ("width",)),
    ("幺三八一二三四五六七八", [("幺三八一二三四五六七八", "contact.phone.cn_mobile")], ("numeral",)),
    ("幺三八 幺二三四 五六七八", [("幺三八 幺二三四 五六七八", "contact.phone.cn_mobile")], ("numeral",)),
    ("壹叁捌壹贰叁肆伍陆柒捌", [("壹叁捌壹贰叁肆伍陆柒捌", "contact.phone.cn_mobile")], ("numeral",)),
    ("①③⑧①②③④⑤⑥⑦⑧", [("①③⑧①②③④⑤⑥⑦⑧", "contact.phone.cn_mobile")], None),
    ("➊➌➑➊➋➌➍➎➏➐➑", [("➊➌➑➊➋➌➍➎➏➐➑", "contact.phone.cn_mobile")], ("lookalike",)),
    ("1三8 1二3四 5六78", [("1三8 1二3四 5六78", "contact.phone.cn_mobile")], ("numeral",)),
    ("座机 0755-12345678", [("0755-12345678", "contact.phone.cn_landline")], ()),
    ("联系电话：021 6234 5678", [("021 6234 5678", "contact.phone.cn_landline")], ()),
    ("０７５５－８８８８８８８８", [("０７５５－８８８８８８８８", "contact.phone.cn_landline")], ("width",)),
    ("香港 +852 9123 4567", [("+852 9123 4567", "contact.phone.hk")], None),
    ("台湾 0912-345-678", [("0912-345-678", "contact.phone.tw")], ()),
    ("+1 (415) 555-2671", [("+1 (415) 555-2671", "contact.phone.intl")], None),
    ("WhatsApp: +44 7911 123456", [("+44 7911 123456", "contact.whatsapp")], None),
    ("whatsapp 85291234567", [("whatsapp 85291234567", "contact.whatsapp")], ()),
    ("扣扣：2021990999", [("扣扣：2021990999", "contact.qq")], ("homophone",)),
    ("有意加我qq1583569144", [("qq1583569144", "contact.qq")], ()),
    ("企鹅号：987654321", [("企鹅号：987654321", "contact.qq")], ("homophone",)),
    ("Q号 12345678", [("Q号 12345678", "contact.qq")], ()),
    ("QQ群：456789123", [("QQ群：456789123", "contact.qq")], ()),
    ("q：1234567", [("q：1234567", "contact.qq")], ()),
    ("想兼职的加我3827944380", [("加我3827944380", "contact.add_me")], ()),
    ("添加導師LINE:jaqg", [("LINE:jaqg", "contact.line")], ()),
    ("line id: mary_0808", [("line id: mary_0808", "contact.line")], ()),
    ("加賴 happy520", [("賴 happy520", "contact.line")], ("traditional",)),
    ("tg @money_maker", [("tg @money_maker", "contact.telegram")], ()),
    ("Telegram: crypto_king99", [("Telegram: crypto_king99", "contact.telegram")], ()),
    ("纸飞机：abc_def88", [("纸飞机：abc_def88", "contact.telegram")], ()),
    ("t.me/scamgroup", [("t.me/scamgroup", "contact.telegram_link")], ()),
    ("私信我 @sweet_honey", [("@sweet_honey", "contact.handle")], ()),
    ("我的邮箱是 zhang.san@163.com", [("zhang.san@163.com", "contact.email")], ()),
    ("mary0808＠gmail．com", [("mary0808＠gmail．com", "contact.email")], ("width",)),
    ("abc123艾特qq点com", [("abc123艾特qq点com", "contact.email")], ()),
    ("abc123 at gmail dot com", [("abc123 at gmail dot com", "contact.email")], ()),
    ("点击 http://bit.ly/abc 领取", [("http://bit.ly/abc", "contact.url")], ()),
    ("网址 www.example.com", [("www.example.com", "contact.url")], ()),
    ("www点abc点com", [("www点abc点com", "contact.url")], ()),
    ("jg7.cmsu.cn免费刷赞网", [("jg7.cmsu.cn", "contact.url")], ()),
    ("abc点com", [("abc点com", "contact.url")], ()),
    ("baidu dot com", [("baidu dot com", "contact.url")], ()),
    ("看我主页", [("看我主页", "contact.pointer")], ()),
    ("看签名", [("看签名", "contact.pointer")], ()),
    ("签名有v", [("签名有v", "contact.pointer")], ()),
    ("资料里有联系方式", [("资料里有联系方式", "contact.pointer")], ()),
    ("联系方式在主页", [("联系方式在主页", "contact.pointer")], ()),
    ("➕薇：m520520", [("薇：m520520", "contact.wechat")], ("homophone",)),
    ("加薇 abc12345", [("薇 abc12345", "contact.wechat")], ("homophone",)),
    ("V 信 ：abc 123 456", [("V 信 ：abc 123 456", "contact.wechat")], ()),
    ("薇 信：abc123456", [("薇 信：abc123456", "contact.wechat")], ("homophone",)),
    ("加我好友 xm1998", [("加我好友 xm1998", "contact.add_me")], ()),
    ("联系方式：一三八 一二三四 五六七八", [("一三八 一二三四 五六七八", "contact.phone.cn_mobile")], ("numeral",)),
    ("VX：ｌｉｎｇ８８８８", [("VX：ｌｉｎｇ８８８８", "contact.wechat")], ("width",)),
    ("V❤信：abc12345", [("V❤信：abc12345", "contact.wechat")], ("noise",)),
    ("w x：xiaomei1998", [("w x：xiaomei1998", "contact.wechat")], ()),
    ("q q：12345678", [("q q：12345678", "contact.qq")], ()),
    ("扣：123456789", [("扣：123456789", "contact.qq")], ("homophone",)),
    ("𝟏𝟖𝟔𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖", [("𝟏𝟖𝟔𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖", "contact.phone.cn_mobile")], None),
    ("tele: +86-186-1234-5678", [("+86-186-1234-5678", "contact.phone.cn_mobile")], ()),
    # Two at once, in order.
    ("微信abc12345 电话13812345678", [("微信abc12345", "contact.wechat"), ("13812345678", "contact.phone.cn_mobile")], None),
]


@pytest.mark.parametrize("text,expected,via", POSITIVES, ids=[p[0] for p in POSITIVES])
def test_positive_spans(text, expected, via):
    got = hits(text)
    assert [(h.text, h.rule) for h in got] == expected
    if via is not None:
        assert got[0].via == via


NEGATIVES = [
    "我身高175cm，体重55kg",
    "1995年3月12日出生",
    "今年28岁，月薪15000",
    "年收入30万左右",
    "订单号：13812345678",
    "快递单号 SF1234567890123",
    "身份证号不能随便给别人",
    "这件衣服价格是1380元",
    "存款1380000",
    "我的工号是138123",
    "验证码123456，请勿泄露",
    "房价13800元每平米",
    "2023年10月1日 国庆节",
    "2023-10-01 08:30:00",
    "电话里聊吧",
    "微信支付很方便，扫码就行",
    "平台提醒：不要把微信号给陌生人",
    "我不用微信，只用这个app",
    "你有微信吗？",
    "微信上说吧",
    "我们加个微信吧",
    "QQ音乐里有这首歌",
    "小时候玩QQ空间",
    "我坐飞机去北京出差",
    "飞机晚点了两个小时",
    "我在line公司上班",
    "online shopping is fun",
    "He stood in line for hours",
    "我的主页照片是去年拍的",
    "签名是随便写的",
    "比分3:2，太精彩了",
    "第1、2、3、4、5名都有奖",
    "我住在3号楼2单元1101",
    "1.5米的床",
    "版本号v1.2.3",
    "iPhone 14 Pro Max 256G",
    "身高一米七五，体重一百二十斤",
    "我有一二三四五个朋友",
    "手机尾号5678",
    "预算5000-8000元",
    "跑步10公里用时55分钟",
    "人口14亿",
    "圆周率3.14159265358",
    "我的车牌是沪A12345",
    "vx是什么意思",
    "Vue.js 和 React",
    "我喜欢e.g.这种写法",
    "文件名是photo.jpg",
    "早上8点，晚上10点",
    "1314520我爱你一生一世",
    "生日0312",
    "银行卡密码不要告诉任何人",
    "我们在微信聊了3天",
    "微信里转了520元给他",
    "时间 2023.10.01",
    "电话号码请私聊",
    "坐标上海，1992年的，172cm",
    "我的微信号就是我的手机号",
    "wx同名",
    "身高168 体重48 坐标深圳 90后",
    "本科 年薪20w+ 有房有车",
    "生日1998.08.08",
    "QQ飞车玩家",
    "微信运动步数2万",
    "身份证 110101199003071234",
    "价格：1380 3690 2580",
    "我叫薇薇，喜欢旅游",
    "薇：今天很开心",
    "微 信支付",
    "view x 12345678",
    "vx号私我",
    "我没有微信 hello world",
    "wechat me please",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_negatives(text):
    assert hits(text) == []


def test_enough_negatives():
    assert len(NEGATIVES) >= 40


def test_clean_text_is_cheap_and_empty():
    # The prefilter rejects plain chat before any finder runs.
    assert find_contacts(normalize("今天天气不错，一起去喝咖啡吗").folded) == []


def test_hits_do_not_overlap():
    got = hits("联系邮箱 abc123@qq.com 或 qq 12345678")
    spans = [(h.start, h.end) for h in got]
    assert spans == sorted(spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert [h.rule for h in got] == ["contact.email", "contact.qq"]


# -- obfuscated domains and ids seen in ad spam ---------------------------------------------------

# (text, expected span text, rule)
DISGUISED = [
    # A homophone or look-alike of 点 for the dot.
    ("认准 ab735典top", "ab735典top", "contact.url"),
    ("yx50典me，可玩", "yx50典me", "contact.url"),
    ("网址qq12電com", "qq12電com", "contact.url"),
    ("入口 k9m钿cc", "k9m钿cc", "contact.url"),
    ("搜一下 hao123甸vip", "hao123甸vip", "contact.url"),
    # A colon or spaces for the dot before a known TLD.
    ("认准：y27tb:top", "y27tb:top", "contact.url"),
    ("进268883.   com看看", "268883.   com", "contact.url"),
    ("地址 ab12 .  top", "ab12 .  top", "contact.url"),
    ("导航 ab12·cc", "ab12·cc", "contact.url"),
    # Combining marks between the characters.
    ("给你一个a\u036b7\u036b7\u036b5\u036b.\u036bt\u036bo\u036bp家", "a\u036b7\u036b7\u036b5\u036b.\u036bt\u036bo\u036bp", "contact.url"),
    ("网址 x\u03327\u03328\u0332.\u0332c\u0332c\u0332", "x\u03327\u03328\u0332.\u0332c\u0332c\u0332", "contact.url"),
    # Keycap digits inside a domain or a number.
    ("浏览器5\ufe0f\u20e36\ufe0f\u20e35\ufe0f\u20e33\ufe0f\u20e38\ufe0f\u20e3.top", "5\ufe0f\u20e36\ufe0f\u20e35\ufe0f\u20e33\ufe0f\u20e38\ufe0f\u20e3.top", "contact.url"),
    ("电话1\ufe0f\u20e33\ufe0f\u20e38\ufe0f\u20e312345678", "1\ufe0f\u20e33\ufe0f\u20e38\ufe0f\u20e312345678", "contact.phone.cn_mobile"),
    ("微信：a\u200bb\u200bc\u200b1\u200b2\u200b3\u200b4\u200b5", "微信：a\u200bb\u200bc\u200b1\u200b2\u200b3\u200b4\u200b5", "contact.wechat"),
    # Han-character labels.
    ("爆哥.cc", "爆哥.cc", "contact.url"),
    ("地址：哈皇.cc", "哈皇.cc", "contact.url"),
    ("🔗：钰蛇.top多多", "钰蛇.top", "contact.url"),
    # TLDs and channel names of spam: .pw, .sbs, .one; 裙 for 群; the penguin for QQ; 微我.
    ("浏览器搜5531.pw", "5531.pw", "contact.url"),
    ("注册网址：473w.sbs", "473w.sbs", "contact.url"),
    ("入口 yhf70.one", "yhf70.one", "contact.url"),
    ("Q裙：216971908", "Q裙：216971908", "contact.qq"),
    ("🐧群号：599718184", "🐧群号：599718184", "contact.qq"),
    ("感兴趣微我dwf1996125", "微我dwf1996125", "contact.wechat"),
    ("需要资料加我微ldiljw88", "微ldiljw88", "contact.wechat"),
    # A plus (or 加) right before an id of letters and digits.
    ("有兴趣可以➕xhj558200", "➕xhj558200", "contact.add_me"),
    ("交个朋友 +sure333444", "+sure333444", "contact.add_me"),
    ("有意加abc12345", "加abc12345", "contact.add_me"),
    ("需要的+我威yy146yy258", "威yy146yy258", "contact.wechat"),
    ("联系方式：abc12345", "联系方式：abc12345", "contact.add_me"),
]


@pytest.mark.parametrize("text,span,rule", DISGUISED, ids=[d[0] for d in DISGUISED])
def test_disguised_domains_and_ids(text, span, rule):
    got = hits(text)
    assert [(h.text, h.rule) for h in got] == [(span, rule)]


# Look like the above, but are times, decimals, versions, file names and ordinary sentences.
NOT_DISGUISED = [
    "下午3:30见",
    "比分2:1，太刺激了",
    "时间 12:30:45",
    "我们约在10点，top餐厅见",
    "晚上8点com个饭局吧",  # digits too few for a label
    "1.5米的床",
    "价格1.5元",
    "体重52.5公斤",
    "版本号v1.2.3",
    "升级到2.0.1版本",
    "文件名是photo.jpg",
    "报告.pdf发你了",
    "学习.net开发很有意思",
    "I love you.  Me too",
    "The end.  Com on",
    "Re:me",
    "note: com",
    "我买了点com的股票",
    "到了3点com",
    "我在电商店top榜上",
    "这家店cc很好吃",
    "你好.me",
    "约翰·cc是我朋友",
    "迈克尔·乔丹",
    "C++11标准",
    "A+B=C",
    "涨粉+10000",
    "参加abc2023比赛",
    "更加abc123",
    "稍微我abc123",
    "王者荣耀+v1.2.3",
    "我点了一份外卖",
    "明天点名，别迟到",
    "地铁站:top出口",
    "5G电tv",
    "微博abc12345",
    "稍微abc123",
    "微商货源",
    "套餐加gps123模块",
    "电脑加rtx4090显卡",
    "我威武霸气abc123",
    "联系方式：本人微信",
]


@pytest.mark.parametrize("text", NOT_DISGUISED)
def test_not_disguised(text):
    assert hits(text) == []


def test_disguise_tables_are_balanced():
    assert len(NOT_DISGUISED) >= len(DISGUISED)


@pytest.fixture(scope="module")
def moderator():
    return Moderator()


def test_through_moderator_profile_blocks(moderator):
    v = moderator.check("加我薇信：lucky_girl1995", scene="profile", id="u42-bio")
    d = v.to_dict()
    assert d["decision"] == "block"
    assert "contact" in d["patterns"]
    h = [x for x in d["hits"] if x["rule"] == "contact.wechat"][0]
    assert (h["start"], h["end"], h["text"]) == (2, 19, "薇信：lucky_girl1995")
    assert h["via"] == ["homophone"]
    assert d["masked"][:2] == "加我" and set(d["masked"][2:19]) == {"*"}


def test_through_moderator_chat_is_held(moderator):
    v = moderator.check("我的电话13812345678", scene="chat")
    assert v.decision in ("review", "block")
    assert any(h.rule == "contact.phone.cn_mobile" for h in v.hits)


def test_through_moderator_negative(moderator):
    v = moderator.check("平台提醒：不要把微信号给陌生人", scene="profile")
    assert not any(h.pattern == "contact" for h in v.hits)


# -- properties ---------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ALPHABET = st.sampled_from(list("0123456789一三八幺①⑧１８ abcvxqVX微信薇扣企鹅@.点com-❤、：:+加我的主页签名号电话"))


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_any_text_gives_valid_non_overlapping_spans(text):
    got = hits(text)  # checks text[start:end] == hit.text
    spans = sorted((h.start, h.end) for h in got)
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_unicode_never_crashes(text):
    hits(text)
