"""Page metadata: what a news page says about itself, in any of the encodings Russian news still uses."""

from __future__ import annotations

import pytest

from archive.extract.decode import decode_html
from archive.extract.pagemeta import extract_page_metadata

ARTICLE = """<!doctype html><html lang="ru"><head>
<meta charset="{charset}"><title>  Митинг в центре
 города </title>
<link rel="canonical" href="/news/42?utm=x#top">
<meta name="description" content="Сотни человек вышли на площадь.">
<meta property="og:site_name" content="Городские новости">
<meta property="article:modified_time" content="2026-11-21T08:00:00+03:00">
<script type="application/ld+json">{{"@context":"https://schema.org","@graph":[{{"@type":"WebSite","name":"x"}},
 {{"@type":"NewsArticle","headline":"Митинг","datePublished":"2026-11-20T10:00:00+03:00",
   "author":[{{"@type":"Person","name":"Анна Иванова"}},{{"@type":"Person","name":"Пётр Смирнов"}}],
   "publisher":{{"@type":"Organization","name":"Городские новости"}}}}]}}</script>
</head><body><nav><a href="/">Главная</a> <a href="/politics">Политика</a></nav>
<div itemscope itemtype="https://schema.org/Place"><span itemprop="name">Площадь</span></div>
<article><h1>Митинг в центре города</h1>
<p>Сегодня сотни человек вышли на центральную площадь, чтобы выразить несогласие с решением властей.</p>
<p>{paragraph}</p>
<p>По словам очевидцев, полиция задержала нескольких участников, их доставили в отделение.</p>
<a href="https://other.example/x#frag">источник</a> <a href="mailto:desk@news.example">почта</a>
</article><footer>{footer}</footer></body></html>"""

PARAGRAPH = "Организаторы заявили, что акция была согласована заранее и проходила мирно."


def page(charset: str = "utf-8", paragraph: str = PARAGRAPH, footer: str = "(c) 2026") -> bytes:
    codec = {"windows-1251": "cp1251", "koi8-r": "koi8_r"}.get(charset, charset)
    return ARTICLE.format(charset=charset, paragraph=paragraph, footer=footer).encode(codec)


def test_every_field_of_a_news_article() -> None:
    meta = extract_page_metadata(page(), "https://news.example/news/42", "text/html; charset=utf-8")
    assert meta.title == "Митинг в центре города"
    assert meta.canonical_url == "https://news.example/news/42?utm=x"
    assert meta.authors == ["Анна Иванова", "Пётр Смирнов"]
    assert meta.published == "2026-11-20T10:00:00+03:00"
    assert meta.modified == "2026-11-21T08:00:00+03:00"
    assert meta.language == "ru"
    assert meta.site_name == "Городские новости"
    assert meta.description == "Сотни человек вышли на площадь."
    assert "полиция задержала" in meta.text and PARAGRAPH in meta.text
    assert "Главная" not in meta.text and "(c) 2026" not in meta.text
    assert meta.outlinks == ["https://news.example/", "https://news.example/politics", "https://other.example/x"]
    assert any(item.get("@type") == "Place" for item in meta.structured["microdata"])
    assert meta.structured["opengraph"] and meta.structured["json-ld"]
    assert (meta.charset, meta.charset_source) == ("utf-8", "header")
    assert isinstance(meta.as_dict()["structured"], dict)


@pytest.mark.parametrize("charset, codec", [("windows-1251", "cp1251"), ("koi8-r", "koi8-r")])
def test_legacy_cyrillic_encodings(charset: str, codec: str) -> None:
    body = page(charset)
    by_header = extract_page_metadata(body, "https://n.example/", f"text/html; charset={charset}")
    assert by_header.title == "Митинг в центре города" and (by_header.charset, by_header.charset_source) == (
        codec, "header")
    by_meta = extract_page_metadata(body, "https://n.example/", "text/html")
    assert by_meta.title == "Митинг в центре города" and by_meta.charset_source == "meta"
    undeclared = body.replace(f'<meta charset="{charset}">'.encode(), b"")
    detected = extract_page_metadata(undeclared, "https://n.example/", "text/html")
    assert detected.title == "Митинг в центре города"
    assert (detected.charset, detected.charset_source) == (codec, "detected")
    assert "полиция задержала" in detected.text


def test_header_wins_over_meta_and_unknown_header_falls_through() -> None:
    body = page("windows-1251")
    text, charset, source = decode_html(body, "text/html; charset=koi8-r")
    assert (charset, source) == ("koi8-r", "header")
    text, charset, source = decode_html(body, "text/html; charset=x-no-such-charset")
    assert (charset, source) == ("cp1251", "meta") and "Митинг" in text


def test_bom_comes_first() -> None:
    text, charset, source = decode_html(b"\xef\xbb\xbf<html>\xd0\x9c</html>", "text/html; charset=cp1251")
    assert (charset, source) == ("utf-8", "bom") and "М" in text


@pytest.mark.parametrize("body, content_type", [
    (b"", "text/html"),
    (bytes(range(256)) * 50, "text/html"),
    (b"<html><head><title>x</title><body><p>unclosed <div><table><tr><td>" * 50, "text/html"),
    (b"<p>" + b"x" * 2_000_000, "text/html"),
    (b'<html><script type="application/ld+json">{not json</script><title>ok</title></html>', "text/html"),
    (b"%PDF-1.7 binary", "application/pdf"),
])
def test_garbage_never_raises(body: bytes, content_type: str) -> None:
    meta = extract_page_metadata(body, "https://g.example/", content_type)
    assert isinstance(meta.as_dict(), dict)
    if content_type == "application/pdf":
        assert meta.title is None and meta.outlinks == []


def test_broken_json_ld_keeps_the_rest() -> None:
    meta = extract_page_metadata(
        b'<html><script type="application/ld+json">{not json</script><title>ok</title></html>',
        "https://g.example/", "text/html")
    assert meta.title == "ok"


def main_text(body: bytes, url: str) -> str | None:
    """The main text a capture's text_sha256 fingerprints (the crawl and the checks both take it from here)."""
    return extract_page_metadata(body, url, "text/html").text


def test_main_text_ignores_boilerplate_but_not_edits() -> None:
    url = "https://news.example/news/42"
    one = main_text(page(footer="(c) 2026 footer A"), url)
    two = main_text(page(footer="(c) 2027 another footer"), url)
    edited = main_text(page(paragraph="Организаторы заявили, что акция не была согласована."), url)
    assert one and one == two
    assert edited != one


# A news page of each script, served with no charset anywhere (no header charset, no <meta>, no BOM).
UNDECLARED = [
    ("cp1251", "Наводнение в долине", "Вода в реке поднялась на два метра за одну ночь. Жителей прибрежных улиц "
     "эвакуировали в школу, а мост на федеральной трассе закрыт до технической проверки. Спасатели всю ночь "
     "укладывали мешки с песком."),
    ("iso-8859-2", "Powódź w dolinie: woda przybiera", "Woda w rzece podniosła się o dwa metry w ciągu jednej nocy. "
     "Mieszkańców ulic położonych nad rzeką ewakuowano do szkoły, a most na drodze krajowej został zamknięty do "
     "czasu kontroli technicznej. Strażacy przez całą noc układali worki z piaskiem. Burmistrz zapowiedział, że "
     "pomoc dla poszkodowanych rodzin zostanie wypłacona jeszcze w tym tygodniu."),
    ("iso-8859-7", "Πλημμύρα στην κοιλάδα", "Το νερό του ποταμού ανέβηκε δύο μέτρα μέσα σε μία νύχτα. Οι κάτοικοι "
     "των παραποτάμιων δρόμων απομακρύνθηκαν και η γέφυρα της εθνικής οδού έκλεισε μέχρι τον τεχνικό έλεγχο."),
    ("gb18030", "山谷洪水", "一夜之间河水上涨了两米。河边街道的居民已被疏散到学校，国道上的桥梁在技术检查完成前关闭。"
     "救援人员整夜堆放沙袋。"),
    ("shift_jis", "谷の洪水", "一晩で川の水位が二メートル上昇しました。川沿いの住民は学校に避難し、国道の橋は技術点検が"
     "終わるまで閉鎖されています。"),
    ("cp1256", "فيضان في الوادي", "ارتفع منسوب مياه النهر مترين خلال ليلة واحدة. تم إجلاء سكان الشوارع المطلة على "
     "النهر إلى المدرسة، وأغلق الجسر على الطريق الوطني حتى انتهاء الفحص الفني."),
]


@pytest.mark.parametrize("codec, title, paragraph", UNDECLARED, ids=[c for c, _, _ in UNDECLARED])
def test_undeclared_charsets_of_every_script_are_detected(codec: str, title: str, paragraph: str) -> None:
    html = (f"<!doctype html><html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            f"<p>{paragraph}</p></article></body></html>")
    text, charset, source = decode_html(html.encode(codec), "text/html")
    assert text == html, charset
    assert source == "detected"
    assert extract_page_metadata(html.encode(codec), "https://n.example/", "text/html").title == title
