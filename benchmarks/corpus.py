"""Deterministic benchmark corpus: short dating-style messages and one long text.

Everything here is written from our own templates (no dataset text is copied in): greetings,
self-introductions, questions and plans in Chinese, some English, digits and emoji. About 2 %
of the messages get one phrase a filter should catch (contact diversion, escort ads, scams,
drugs, insults), sometimes disguised (noise, full width, traditional characters, homophones).
The same seed always gives the same texts, on any machine and Python 3.11+.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import orjson

SEED = 20261123
N_MESSAGES = 100_000
MIN_CHARS, MAX_CHARS = 10, 300
HIT_SHARE = 0.02
LONG_CHARS = 1_500_000

CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "重庆", "武汉", "西安", "南京", "苏州",
          "长沙", "厦门", "青岛", "大连", "昆明", "郑州", "合肥", "天津", "沈阳", "哈尔滨", "福州"]
JOBS = ["程序员", "老师", "护士", "医生", "设计师", "会计", "销售", "公务员", "律师", "工程师",
        "摄影师", "产品经理", "研究生", "厨师", "健身教练", "银行职员", "自由职业者", "翻译"]
HOBBIES = ["爬山", "跑步", "看电影", "旅行", "做饭", "看书", "摄影", "打羽毛球", "游泳", "弹吉他",
           "画画", "追剧", "露营", "骑行", "听音乐会", "逛展", "养花", "打游戏", "烘焙", "瑜伽"]
PLACES = ["咖啡馆", "公园", "博物馆", "海边", "商场", "书店", "电影院", "火锅店", "江边",
          "夜市", "植物园", "美术馆", "livehouse", "古镇"]
FOODS = ["火锅", "烧烤", "小龙虾", "寿司", "奶茶", "牛肉面", "饺子", "麻辣烫", "披萨", "粤菜"]
PETS = ["猫", "狗", "兔子", "仓鼠", "鹦鹉"]
EMOJI = ["😊", "😂", "❤️", "🌹", "👍", "🙈", "✨", "🥰", "😘", "🎉", "☕", "🍜", "🤣", "😅", "🙏",
         "💕", "🌙", "☀️", "🐱", "🐶", "😴", "🤔", "👋", "🥺"]
ENGLISH = ["hi", "hello", "haha", "ok", "lol", "nice to meet you", "good night", "see you",
           "thanks", "cool", "omg", "btw", "so sweet", "miss you", "weekend?", "why not"]
PUNCT = ["，", "。", "！", "？", "~", " ", "…", "，", "。", "!", "?", ", "]

FRAGMENTS = [
    "你好", "嗨", "哈喽", "早上好", "晚安", "在吗", "下班了吗", "吃饭了没", "今天好累啊",
    "我是{city}人", "今年{age}岁", "身高{height}cm", "在{city}做{job}", "平时喜欢{hobby}",
    "周末一般去{place}", "你平时喜欢做什么", "周末有空吗", "你是做什么工作的", "你养{pet}吗",
    "我家有一只{pet}", "一起去{place}吧", "想找个能一起{hobby}的人", "最近在学{hobby}",
    "{city}的{food}真的好吃", "晚上一起吃{food}怎么样", "明天{hour}点在{place}门口见",
    "刚看完一部电影，还挺感人的", "今天加班到{hour}点", "你的照片好好看", "感觉我们挺聊得来的",
    "我比较慢热，熟了就好", "希望找一个真诚的人", "不喜欢玩游戏的男生", "喜欢安静一点的生活",
    "我{month}月{day}号生日", "上次说的那家店我去了", "哈哈哈你太逗了", "好的呀", "嗯嗯", "没问题",
    "下雨了记得带伞", "我在地铁上", "你那边天气怎么样", "这周末想去{city}玩", "养了{n}年的{pet}",
    "最近迷上了{food}", "我是{job}，平时比较忙", "工作稳定，有房有车", "想认真谈一段恋爱",
    "父母都是退休教师", "爱好挺多的，{hobby}和{hobby2}", "不抽烟不喝酒", "{age}年的，属{zodiac}",
    "月薪{salary}左右", "想找{city}本地的", "异地恋也可以接受", "你喜欢猫还是狗", "谢谢你的关心",
]
ZODIAC = list("鼠牛虎兔龙蛇马羊猴鸡狗猪")

# Phrases a filter should catch; our own wording. Fields are filled like FRAGMENTS.
HITS = [
    "加我微信{wx}", "加v：{wx}", "vx {wx}", "我的qq是{qq}", "扣扣{qq}", "电话{phone}",
    "加我薇信聊", "约炮吗", "约❤炮", "上门服务，包夜{salary}", "兼职刷单日赚{salary}",
    "出售冰毒", "代开发票", "稳赚不赔的投资平台", "傻逼", "看裸聊吗", "带你买彩票稳赚",
    "借我{salary}应急", "发个红包{n}88", "你个傻 逼", "約炮", "加我微 信{wx}", "办假证",
]
HIT_DISGUISE = [
    lambda s: s,
    lambda s: s,
    lambda s: ".".join(s),  # noise between characters
    lambda s: s.translate(_FULLWIDTH),  # full width
    lambda s: " ".join(s),
]
_FULLWIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}


@dataclass(frozen=True)
class Corpus:
    messages: list[str]
    injected: list[bool]  # True where a HITS phrase was put in

    @property
    def chars(self) -> int:
        return sum(len(m) for m in self.messages)


def _pick(rng: random.Random, seq):
    return seq[int(rng.random() * len(seq))]


class _Fields(dict):
    """Draws a field only when the template names it (keeps generation fast)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> object:
        rng = self.rng
        if key in _CHOICES:
            return _pick(rng, _CHOICES[key])
        if key in _RANGES:
            return rng.randint(*_RANGES[key])
        if key == "wx":
            return _pick(rng, ["lucky", "sweet", "amy", "xiaoyu", "cc"]) + str(rng.randint(1980, 2005))
        if key == "qq":
            return str(rng.randint(10_000_000, 2_999_999_999))
        if key == "phone":
            return "1" + _pick(rng, "3589") + str(rng.randint(0, 999_999_999)).zfill(9)
        raise KeyError(key)


_CHOICES = {
    "city": CITIES, "job": JOBS, "hobby": HOBBIES, "hobby2": HOBBIES, "place": PLACES, "pet": PETS,
    "food": FOODS, "zodiac": ZODIAC, "salary": ["5k", "8000", "1万", "2w", "12000"],
}
_RANGES = {"age": (18, 45), "height": (150, 190), "hour": (1, 12), "month": (1, 12), "day": (1, 28), "n": (1, 9)}


def _fill(rng: random.Random, template: str) -> str:
    if "{" not in template:
        return template
    return template.format_map(_Fields(rng))


def _target_length(rng: random.Random) -> int:
    # Mostly short chat lines, a tail of long bios and posts.
    x = int(rng.lognormvariate(3.6, 0.7))
    return max(MIN_CHARS, min(MAX_CHARS, x))


def _message(rng: random.Random, inject: bool) -> str:
    target = _target_length(rng)
    parts: list[str] = []
    size = 0
    hit_at = rng.randint(0, 3) if inject else -1
    count = 0
    while size < target or hit_at >= 0:
        if count == hit_at:
            frag = _pick(rng, HIT_DISGUISE)(_fill(rng, _pick(rng, HITS)))
            hit_at = -1
        else:
            r = rng.random()
            if r < 0.08:
                frag = _pick(rng, ENGLISH)
            elif r < 0.18:
                frag = _pick(rng, EMOJI) * rng.randint(1, 3)
            else:
                frag = _fill(rng, _pick(rng, FRAGMENTS))
        parts.append(frag)
        parts.append(_pick(rng, PUNCT))
        size += len(frag) + 1
        count += 1
    text = "".join(parts).strip()
    if len(text) > target and not inject:
        text = text[:target].rstrip()
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    while len(text) < MIN_CHARS:
        text += _pick(rng, EMOJI)
    return text


def messages(n: int = N_MESSAGES, seed: int = SEED, hit_share: float = HIT_SHARE) -> Corpus:
    """``n`` short messages, about ``hit_share`` of them with one phrase to catch."""
    rng = random.Random(seed)
    msgs: list[str] = []
    injected: list[bool] = []
    for _ in range(n):
        inject = rng.random() < hit_share
        msgs.append(_message(rng, inject))
        injected.append(inject)
    return Corpus(msgs, injected)


def long_text(chars: int = LONG_CHARS, seed: int = SEED + 1) -> str:
    """One long document (about ``chars`` code points, several MB of UTF-8): messages joined by lines."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < chars:
        m = _message(rng, rng.random() < HIT_SHARE)
        out.append(m)
        size += len(m) + 1
    return "\n".join(out)[:chars]


def write_jsonl(corpus: Corpus, path: Path, scene: str = "chat") -> None:
    """The corpus as ``moderation scan`` input lines."""
    with open(path, "wb") as fh:
        for i, m in enumerate(corpus.messages):
            fh.write(orjson.dumps({"id": i, "text": m, "scene": scene}) + b"\n")


if __name__ == "__main__":
    c = messages(20)
    for m, inj in zip(c.messages, c.injected):
        print(("HIT " if inj else "    ") + m)
