"""Videos on a page: every provider and embed form, one video however it is linked, nothing from garbage."""

from __future__ import annotations

import time

import pytest

from archive.extract.videos import find_videos
from archive.providers import VideoRef, video_from_url

YT = "dQw4w9WgXcQ"
YT_PAGE = f"https://www.youtube.com/watch?v={YT}"
RUTUBE = "0123456789abcdef0123456789abcdef"


# --- one URL -> (provider, video_id, canonical_url) ----------------------------------------------------------

URL_CASES = [
    # YouTube: every host and path form, extra parameters and timestamps ignored.
    (f"https://www.youtube.com/watch?v={YT}", "youtube", YT, YT_PAGE),
    (f"https://www.youtube.com/watch?v={YT}&t=30s", "youtube", YT, YT_PAGE),
    (f"https://www.youtube.com/watch?feature=share&v={YT}&list=PL0123&index=2", "youtube", YT, YT_PAGE),
    (f"http://youtube.com/watch?v={YT}#t=1m", "youtube", YT, YT_PAGE),
    (f"https://m.youtube.com/watch?v={YT}", "youtube", YT, YT_PAGE),
    (f"https://music.youtube.com/watch?v={YT}&si=xyz", "youtube", YT, YT_PAGE),
    (f"HTTPS://WWW.YOUTUBE.COM/watch?v={YT}", "youtube", YT, YT_PAGE),
    (f"https://youtu.be/{YT}", "youtube", YT, YT_PAGE),
    (f"https://youtu.be/{YT}?t=42&si=abc", "youtube", YT, YT_PAGE),
    (f"https://www.youtube.com/shorts/{YT}", "youtube", YT, YT_PAGE),
    (f"https://youtube.com/shorts/{YT}?feature=share", "youtube", YT, YT_PAGE),
    (f"https://www.youtube.com/embed/{YT}?rel=0&start=10", "youtube", YT, YT_PAGE),
    (f"https://www.youtube.com/live/{YT}?si=q", "youtube", YT, YT_PAGE),
    (f"https://www.youtube.com/v/{YT}?version=3", "youtube", YT, YT_PAGE),
    (f"https://www.youtube-nocookie.com/embed/{YT}", "youtube", YT, YT_PAGE),
    (f"//www.youtube.com/embed/{YT}", "youtube", YT, YT_PAGE),
    (f"  https://youtu.be/{YT}\n", "youtube", YT, YT_PAGE),
    ("https://www.youtube.com/watch?v=a-b_c0123_Z", "youtube", "a-b_c0123_Z", "https://www.youtube.com/watch?v=a-b_c0123_Z"),
    # Vimeo
    ("https://vimeo.com/76979871", "vimeo", "76979871", "https://vimeo.com/76979871"),
    ("https://www.vimeo.com/76979871?share=copy#t=5", "vimeo", "76979871", "https://vimeo.com/76979871"),
    ("https://vimeo.com/channels/staffpicks/76979871", "vimeo", "76979871", "https://vimeo.com/76979871"),
    ("https://vimeo.com/groups/shortfilms/videos/76979871", "vimeo", "76979871", "https://vimeo.com/76979871"),
    ("https://vimeo.com/showcase/123/video/76979871", "vimeo", "76979871", "https://vimeo.com/76979871"),
    ("https://player.vimeo.com/video/76979871", "vimeo", "76979871", "https://vimeo.com/76979871"),
    ("https://player.vimeo.com/video/76979871?h=8f1a2b3c4d&badge=0", "vimeo", "76979871",
     "https://vimeo.com/76979871/8f1a2b3c4d"),
    ("https://vimeo.com/76979871/8f1a2b3c4d", "vimeo", "76979871", "https://vimeo.com/76979871/8f1a2b3c4d"),
    # Dailymotion
    ("https://www.dailymotion.com/video/x8abc12", "dailymotion", "x8abc12", "https://www.dailymotion.com/video/x8abc12"),
    ("https://www.dailymotion.com/video/x7tgad0_flood-in-the-valley_news", "dailymotion", "x7tgad0",
     "https://www.dailymotion.com/video/x7tgad0"),
    ("https://dai.ly/x8abc12", "dailymotion", "x8abc12", "https://www.dailymotion.com/video/x8abc12"),
    ("https://www.dailymotion.com/embed/video/x8abc12?autoplay=1", "dailymotion", "x8abc12",
     "https://www.dailymotion.com/video/x8abc12"),
    ("https://geo.dailymotion.com/player.html?video=x8abc12", "dailymotion", "x8abc12",
     "https://www.dailymotion.com/video/x8abc12"),
    ("https://geo.dailymotion.com/player/xk2zs.html?video=x8abc12&mute=true", "dailymotion", "x8abc12",
     "https://www.dailymotion.com/video/x8abc12"),
    # VK
    ("https://vk.com/video-123_456", "vk", "-123_456", "https://vk.com/video-123_456"),
    ("https://vk.com/video123_456", "vk", "123_456", "https://vk.com/video123_456"),
    ("https://m.vk.com/video-123_456?list=abc", "vk", "-123_456", "https://vk.com/video-123_456"),
    ("https://vk.com/club1?z=video-1_2", "vk", "-1_2", "https://vk.com/video-1_2"),
    ("https://vk.com/videos-77521?z=video-77521_162222515%2Fclub77521", "vk", "-77521_162222515",
     "https://vk.com/video-77521_162222515"),
    ("https://vk.com/video_ext.php?oid=-1&id=2&hash=abc", "vk", "-1_2", "https://vk.com/video-1_2"),
    ("https://vk.com/video_ext.php?oid=5&id=7", "vk", "5_7", "https://vk.com/video5_7"),
    ("https://vkvideo.ru/video-1_2", "vk", "-1_2", "https://vk.com/video-1_2"),
    ("https://vk.com/clip-1_2", "vk", "-1_2", "https://vk.com/video-1_2"),
    # Rutube
    (f"https://rutube.ru/video/{RUTUBE}/", "rutube", RUTUBE, f"https://rutube.ru/video/{RUTUBE}/"),
    (f"https://rutube.ru/video/{RUTUBE.upper()}/?r=wd", "rutube", RUTUBE, f"https://rutube.ru/video/{RUTUBE}/"),
    (f"https://rutube.ru/play/embed/{RUTUBE}", "rutube", RUTUBE, f"https://rutube.ru/video/{RUTUBE}/"),
    (f"https://rutube.ru/shorts/{RUTUBE}/", "rutube", RUTUBE, f"https://rutube.ru/video/{RUTUBE}/"),
    (f"https://rutube.ru/video/private/{RUTUBE}/?p=Key_1", "rutube", RUTUBE,
     f"https://rutube.ru/video/private/{RUTUBE}/?p=Key_1"),
    ("https://rutube.ru/play/embed/6462012", "rutube", "6462012", "https://rutube.ru/play/embed/6462012"),
    # OK.ru
    ("https://ok.ru/video/1484130554189", "ok", "1484130554189", "https://ok.ru/video/1484130554189"),
    ("https://ok.ru/videoembed/1484130554189?autoplay=1", "ok", "1484130554189", "https://ok.ru/video/1484130554189"),
    ("https://m.ok.ru/video/1484130554189", "ok", "1484130554189", "https://ok.ru/video/1484130554189"),
    # X / Twitter
    ("https://twitter.com/someone/status/1234567890123456789", "twitter", "1234567890123456789",
     "https://x.com/i/status/1234567890123456789"),
    ("https://x.com/someone/status/1234567890123456789?s=20", "twitter", "1234567890123456789",
     "https://x.com/i/status/1234567890123456789"),
    ("https://mobile.twitter.com/someone/status/42/video/1", "twitter", "42", "https://x.com/i/status/42"),
    ("https://mobile.x.com/someone/status/42", "twitter", "42", "https://x.com/i/status/42"),
    ("https://twitter.com/i/web/status/42", "twitter", "42", "https://x.com/i/status/42"),
    ("https://platform.twitter.com/embed/Tweet.html?id=42", "twitter", "42", "https://x.com/i/status/42"),
    # Telegram posts
    ("https://t.me/Durov/43", "telegram", "durov/43", "https://t.me/durov/43"),
    ("https://t.me/s/durov/43", "telegram", "durov/43", "https://t.me/durov/43"),
    ("https://t.me/durov/43?embed=1&mode=tme", "telegram", "durov/43", "https://t.me/durov/43"),
    ("https://telegram.me/durov/43?single", "telegram", "durov/43", "https://t.me/durov/43"),
    # Facebook
    ("https://www.facebook.com/watch/?v=1234567890", "facebook", "1234567890",
     "https://www.facebook.com/watch/?v=1234567890"),
    ("https://www.facebook.com/watch?v=1234567890", "facebook", "1234567890",
     "https://www.facebook.com/watch/?v=1234567890"),
    ("https://www.facebook.com/SomePage/videos/1234567890/", "facebook", "1234567890",
     "https://www.facebook.com/watch/?v=1234567890"),
    ("https://m.facebook.com/SomePage/videos/a-title/1234567890/", "facebook", "1234567890",
     "https://www.facebook.com/watch/?v=1234567890"),
    ("https://www.facebook.com/reel/1234567890", "facebook", "1234567890",
     "https://www.facebook.com/watch/?v=1234567890"),
    ("https://www.facebook.com/video.php?v=1234567890", "facebook", "1234567890",
     "https://www.facebook.com/watch/?v=1234567890"),
    ("https://fb.watch/aBc-12_x/", "facebook", "aBc-12_x", "https://fb.watch/aBc-12_x/"),
    ("https://www.facebook.com/plugins/video.php?height=314&href=https%3A%2F%2Fwww.facebook.com%2FSomePage%2Fvideos"
     "%2F1234567890%2F&show_text=false", "facebook", "1234567890", "https://www.facebook.com/watch/?v=1234567890"),
    # TikTok
    ("https://www.tiktok.com/@scout2015/video/6718335390845095173", "tiktok", "6718335390845095173",
     "https://www.tiktok.com/@scout2015/video/6718335390845095173"),
    ("https://www.tiktok.com/@scout2015/video/6718335390845095173?is_from_webapp=1", "tiktok", "6718335390845095173",
     "https://www.tiktok.com/@scout2015/video/6718335390845095173"),
    ("https://www.tiktok.com/embed/v2/6718335390845095173", "tiktok", "6718335390845095173",
     "https://www.tiktok.com/@/video/6718335390845095173"),
    ("https://www.tiktok.com/embed/6718335390845095173", "tiktok", "6718335390845095173",
     "https://www.tiktok.com/@/video/6718335390845095173"),
    ("https://www.tiktok.com/player/v1/6718335390845095173?autoplay=0", "tiktok", "6718335390845095173",
     "https://www.tiktok.com/@/video/6718335390845095173"),
    # Instagram
    ("https://www.instagram.com/p/CxYz123abc/", "instagram", "CxYz123abc", "https://www.instagram.com/p/CxYz123abc/"),
    ("https://instagram.com/reel/CxYz123abc/?igsh=abc", "instagram", "CxYz123abc",
     "https://www.instagram.com/p/CxYz123abc/"),
    ("https://www.instagram.com/reels/CxYz123abc/", "instagram", "CxYz123abc", "https://www.instagram.com/p/CxYz123abc/"),
    ("https://www.instagram.com/tv/CxYz123abc", "instagram", "CxYz123abc", "https://www.instagram.com/p/CxYz123abc/"),
    ("https://www.instagram.com/p/CxYz123abc/embed/captioned/", "instagram", "CxYz123abc",
     "https://www.instagram.com/p/CxYz123abc/"),
    # Direct media files: the id is the normalized URL, fragment dropped, query kept.
    ("https://cdn.example.com/media/clip.mp4", "direct", "https://cdn.example.com/media/clip.mp4",
     "https://cdn.example.com/media/clip.mp4"),
    ("HTTPS://CDN.Example.com:443/media/clip.MP4#t=10", "direct", "https://cdn.example.com/media/clip.MP4",
     "https://cdn.example.com/media/clip.MP4"),
    ("https://cdn.example.com/live/master.m3u8?token=abc", "direct", "https://cdn.example.com/live/master.m3u8?token=abc",
     "https://cdn.example.com/live/master.m3u8?token=abc"),
    ("https://cdn.example.com/a.webm", "direct", "https://cdn.example.com/a.webm", "https://cdn.example.com/a.webm"),
    ("https://cdn.example.com/a.mov", "direct", "https://cdn.example.com/a.mov", "https://cdn.example.com/a.mov"),
    ("https://cdn.example.com/a.m4v", "direct", "https://cdn.example.com/a.m4v", "https://cdn.example.com/a.m4v"),
    ("https://cdn.example.com/a.ogv", "direct", "https://cdn.example.com/a.ogv", "https://cdn.example.com/a.ogv"),
    ("https://cdn.example.com/dash/manifest.mpd", "direct", "https://cdn.example.com/dash/manifest.mpd",
     "https://cdn.example.com/dash/manifest.mpd"),
]


@pytest.mark.parametrize("url, provider, video_id, canonical", URL_CASES)
def test_video_from_url(url: str, provider: str, video_id: str, canonical: str) -> None:
    ref = video_from_url(url)
    assert ref == VideoRef(provider, video_id, canonical, "link")


NOT_VIDEOS = [
    "https://www.youtube.com/",
    "https://www.youtube.com/@SomeChannel",
    "https://www.youtube.com/@SomeChannel/videos",
    "https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw",
    "https://www.youtube.com/c/SomeChannel",
    "https://www.youtube.com/user/someone",
    "https://www.youtube.com/playlist?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI",
    "https://www.youtube.com/embed/videoseries?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI",
    "https://www.youtube.com/embed/live_stream?channel=UCuAXFkgsw1L7xaCfnd5JJOw",
    "https://www.youtube.com/watch?v=tooshort",
    "https://www.youtube.com/watch?list=PL0123",
    "https://www.youtube.com/results?search_query=flood",
    "https://youtu.be/",
    "https://vimeo.com/",
    "https://vimeo.com/someuser",
    "https://vimeo.com/channels/staffpicks",
    "https://vimeo.com/showcase/123",
    "https://www.dailymotion.com/someuser",
    "https://www.dailymotion.com/playlist/x6hynp",
    "https://vk.com/",
    "https://vk.com/durov",
    "https://vk.com/wall-1_2",
    "https://vk.com/videos-123",
    "https://vk.com/video",
    "https://rutube.ru/",
    "https://rutube.ru/channel/123456/",
    "https://rutube.ru/video/person/123/",
    "https://rutube.ru/video/not-a-hex-id/",
    "https://ok.ru/",
    "https://ok.ru/group/123",
    "https://ok.ru/video/c123",
    "https://twitter.com/someone",
    "https://x.com/someone/likes",
    "https://x.com/home",
    "https://t.me/durov",
    "https://t.me/s/durov",
    "https://t.me/joinchat/AAAAAE",
    "https://t.me/+AbCdEf",
    "https://www.facebook.com/SomePage",
    "https://www.facebook.com/SomePage/videos/",
    "https://www.facebook.com/SomePage/posts/123",
    "https://www.facebook.com/plugins/video.php?href=https%3A%2F%2Fexample.com%2F",
    "https://www.tiktok.com/@scout2015",
    "https://www.tiktok.com/tag/news",
    "https://www.instagram.com/someone/",
    "https://www.instagram.com/explore/tags/news/",
    "https://www.instagram.com/reels/audio/123456789/",
    "https://news.example/story.html",
    "https://news.example/videos/flood",
    "https://news.example/clip.mp4.html",
    "https://news.example/page?file=clip.mp4",
    "https://fox.com/watch?v=dQw4w9WgXcQ",
    "https://www.youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
    "ftp://cdn.example.com/clip.mp4",
    "javascript:void(0)",
    "mailto:news@example.com",
    "data:video/mp4;base64,AAAA",
    "/relative/clip.mp4",
    "not a url at all",
    "http://[::1",
    "",
]


@pytest.mark.parametrize("url", NOT_VIDEOS)
def test_not_a_video(url: str) -> None:
    assert video_from_url(url) is None


# --- pages ---------------------------------------------------------------------------------------------------

def keys(refs: list[VideoRef]) -> list[tuple[str, str, str]]:
    return [(r.provider, r.video_id, r.found_as) for r in refs]


@pytest.mark.parametrize("markup, expected", [
    (f'<a href="https://youtu.be/{YT}">watch</a>', ("youtube", YT, "link")),
    (f'<iframe src="https://www.youtube.com/embed/{YT}?rel=0" allowfullscreen></iframe>', ("youtube", YT, "iframe")),
    (f'<iframe src="about:blank" data-src="https://www.youtube.com/embed/{YT}"></iframe>', ("youtube", YT, "iframe")),
    (f'<iframe data-src="//www.youtube-nocookie.com/embed/{YT}"></iframe>', ("youtube", YT, "iframe")),
    ('<embed src="https://vimeo.com/76979871" type="application/x-shockwave-flash">', ("vimeo", "76979871", "embed")),
    ('<object data="https://www.dailymotion.com/swf/video/x8abc12"></object>', ("dailymotion", "x8abc12", "embed")),
    ('<object><param name="movie" value="https://www.youtube.com/v/dQw4w9WgXcQ"></object>', ("youtube", YT, "embed")),
    ('<video src="/media/clip.mp4" poster="/media/poster.jpg" controls></video>',
     ("direct", "https://news.example/media/clip.mp4", "video")),
    ('<video poster="/media/poster.jpg"><source src="/media/clip.webm" type="video/webm"></video>',
     ("direct", "https://news.example/media/clip.webm", "source")),
    ('<meta property="og:video" content="https://www.youtube.com/embed/dQw4w9WgXcQ">', ("youtube", YT, "og:video")),
    ('<meta property="og:video:url" content="https://cdn.example/v.mp4">',
     ("direct", "https://cdn.example/v.mp4", "og:video")),
    ('<meta property="og:video:secure_url" content="https://player.vimeo.com/video/76979871">',
     ("vimeo", "76979871", "og:video")),
    ('<meta name="twitter:player" content="https://rutube.ru/play/embed/' + RUTUBE + '">',
     ("rutube", RUTUBE, "og:video")),
    ('<iframe src="https://vk.com/video_ext.php?oid=-1&amp;id=2&amp;hash=x"></iframe>', ("vk", "-1_2", "iframe")),
    ('<iframe src="https://ok.ru/videoembed/1484130554189"></iframe>', ("ok", "1484130554189", "iframe")),
    ('<iframe src="https://geo.dailymotion.com/player.html?video=x8abc12"></iframe>',
     ("dailymotion", "x8abc12", "iframe")),
    ('<iframe src="https://www.facebook.com/plugins/video.php?href=https%3A%2F%2Fwww.facebook.com%2FPage%2Fvideos'
     '%2F1234567890%2F"></iframe>', ("facebook", "1234567890", "iframe")),
    ('<iframe src="https://www.tiktok.com/embed/v2/6718335390845095173"></iframe>',
     ("tiktok", "6718335390845095173", "iframe")),
    ('<iframe src="https://www.instagram.com/p/CxYz123abc/embed"></iframe>', ("instagram", "CxYz123abc", "iframe")),
    ('<iframe src="https://t.me/durov/43?embed=1"></iframe>', ("telegram", "durov/43", "iframe")),
    ('<script async src="https://telegram.org/js/telegram-widget.js?22" data-telegram-post="durov/43"></script>',
     ("telegram", "durov/43", "embed")),
    ('<blockquote class="twitter-tweet"><p>text</p><a href="https://twitter.com/someone/status/42?ref_src=twsrc">'
     'May 1</a></blockquote>', ("twitter", "42", "embed")),
    ('<blockquote class="tiktok-embed" cite="https://www.tiktok.com/@scout2015/video/6718335390845095173">'
     '<section></section></blockquote>', ("tiktok", "6718335390845095173", "embed")),
    ('<blockquote class="instagram-media" data-instgrm-permalink="https://www.instagram.com/reel/CxYz123abc/">'
     '</blockquote>', ("instagram", "CxYz123abc", "embed")),
    ('<div class="fb-video" data-href="https://www.facebook.com/Page/videos/1234567890/"></div>',
     ("facebook", "1234567890", "embed")),
])
def test_each_embed_form(markup: str, expected: tuple[str, str, str]) -> None:
    page = f"<html><head><title>t</title></head><body><p>story</p>{markup}</body></html>"
    assert keys(find_videos(page, "https://news.example/story/1")) == [expected]


def test_same_video_three_ways_is_one_ref() -> None:
    page = f"""<html><head><meta property="og:video" content="https://www.youtube.com/embed/{YT}"></head><body>
    <a href="https://www.youtube.com/watch?v={YT}&amp;t=30s">watch</a>
    <iframe src="https://www.youtube-nocookie.com/embed/{YT}?start=30"></iframe>
    <a href="https://youtu.be/{YT}">short</a> <a href="https://m.youtube.com/shorts/{YT}">shorts</a>
    <a href="https://vimeo.com/76979871">v1</a> <iframe src="https://player.vimeo.com/video/76979871"></iframe>
    <a href="https://t.me/s/Durov/43">t1</a> <a href="https://t.me/durov/43?embed=1">t2</a>
    </body></html>"""
    refs = find_videos(page, "https://news.example/")
    assert refs == [
        VideoRef("youtube", YT, YT_PAGE, "og:video"),
        VideoRef("vimeo", "76979871", "https://vimeo.com/76979871", "link"),
        VideoRef("telegram", "durov/43", "https://t.me/durov/43", "link"),
    ]


def test_a_page_with_every_provider_in_document_order() -> None:
    page = f"""<!doctype html><html><head><title>All</title></head><body><article>
    <p><a href="https://www.youtube.com/watch?v={YT}">1</a></p>
    <iframe src="https://player.vimeo.com/video/76979871"></iframe>
    <a href="https://dai.ly/x8abc12">3</a>
    <iframe src="https://vk.com/video_ext.php?oid=-123&id=456"></iframe>
    <a href="https://rutube.ru/video/{RUTUBE}/">5</a>
    <a href="https://ok.ru/video/777">6</a>
    <a href="https://x.com/someone/status/42">7</a>
    <a href="https://t.me/durov/43">8</a>
    <a href="https://fb.watch/aBcD12/">9</a>
    <a href="https://www.tiktok.com/@u/video/123">10</a>
    <a href="https://www.instagram.com/reel/CxYz123abc/">11</a>
    <video><source src="https://cdn.example/clip.m3u8"></video>
    <a href="https://news.example/other-story">not a video</a>
    <a href="https://www.youtube.com/@channel">channel, not a video</a>
    </article></body></html>"""
    refs = find_videos(page, "https://news.example/story")
    assert [(r.provider, r.video_id) for r in refs] == [
        ("youtube", YT), ("vimeo", "76979871"), ("dailymotion", "x8abc12"), ("vk", "-123_456"),
        ("rutube", RUTUBE), ("ok", "777"), ("twitter", "42"), ("telegram", "durov/43"), ("facebook", "aBcD12"),
        ("tiktok", "123"), ("instagram", "CxYz123abc"), ("direct", "https://cdn.example/clip.m3u8"),
    ]
    assert [r.canonical_url for r in refs][:3] == [YT_PAGE, "https://vimeo.com/76979871",
                                                   "https://www.dailymotion.com/video/x8abc12"]


def test_relative_and_protocol_relative_urls() -> None:
    page = f"""<html><body>
    <video src="../media/clip.mp4"></video>
    <a href="/files/report.MOV">file</a>
    <iframe src="//www.youtube.com/embed/{YT}"></iframe>
    <a href="//vimeo.com/76979871">vimeo</a>
    </body></html>"""
    refs = find_videos(page, "http://news.example/section/story")
    assert refs == [
        VideoRef("direct", "http://news.example/media/clip.mp4", "http://news.example/media/clip.mp4", "video"),
        VideoRef("direct", "http://news.example/files/report.MOV", "http://news.example/files/report.MOV", "link"),
        VideoRef("youtube", YT, YT_PAGE, "iframe"),
        VideoRef("vimeo", "76979871", "https://vimeo.com/76979871", "link"),
    ]


def test_relative_links_on_a_provider_page() -> None:
    page = f'<html><body><a href="/watch?v={YT}">a</a><a href="/@channel">b</a></body></html>'
    assert keys(find_videos(page, "https://www.youtube.com/results?search_query=x")) == [("youtube", YT, "link")]
    page = '<html><body><a href="/video-1_2">a</a><a href="/durov">b</a></body></html>'
    assert keys(find_videos(page, "https://vk.com/durov")) == [("vk", "-1_2", "link")]


def test_base_href() -> None:
    page = """<html><head><base href="https://static.example/assets/"></head><body>
    <video src="clips/one.mp4"></video><a href="/two.webm">two</a></body></html>"""
    refs = find_videos(page, "https://news.example/story")
    assert [r.video_id for r in refs] == ["https://static.example/assets/clips/one.mp4",
                                         "https://static.example/two.webm"]
    relative_base = '<html><head><base href="/media/"></head><body><video src="a.mp4"></video></body></html>'
    assert [r.video_id for r in find_videos(relative_base, "https://news.example/x/y")] == [
        "https://news.example/media/a.mp4"]


JSON_LD_GRAPH = """<html><head><script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "WebPage", "url": "https://news.example/story"},
  {"@type": "NewsArticle", "headline": "Flood", "video": [
     {"@type": "VideoObject", "name": "A", "embedUrl": "https://www.youtube.com/embed/dQw4w9WgXcQ",
      "thumbnailUrl": "https://i.ytimg.com/vi/dQw4w9WgXcQ/hq.jpg"},
     {"@type": ["VideoObject", "Clip"], "contentUrl": "https://cdn.example/b.mp4", "url": "https://news.example/b"}
  ]},
  {"@type": "schema:VideoObject", "url": "https://vimeo.com/76979871"}
]}
</script>
<script type="application/ld+json">[{"@type": "VideoObject", "embedUrl": "https:\\/\\/ok.ru\\/videoembed\\/5"}]</script>
<script type="application/ld+json">{"@type": "VideoObject", "contentUrl": "/media/c.mp4"}</script>
<script type="application/ld+json">{"@type": "NewsArticle", "url": "https://youtu.be/aaaaaaaaaaa"}</script>
</head><body></body></html>"""


def test_json_ld_video_objects() -> None:
    refs = find_videos(JSON_LD_GRAPH, "https://news.example/story")
    assert keys(refs) == [
        ("youtube", YT, "json-ld"),
        ("direct", "https://cdn.example/b.mp4", "json-ld"),
        ("vimeo", "76979871", "json-ld"),
        ("ok", "5", "json-ld"),
        ("direct", "https://news.example/media/c.mp4", "json-ld"),
    ]  # a URL outside a VideoObject (the NewsArticle's url) is not read


def test_invalid_json_ld_does_not_hide_the_rest() -> None:
    page = """<html><head>
    <script type="application/ld+json">{"@type": "VideoObject", "embedUrl": "https://vimeo.com/1", </script>
    <script type="application/ld+json"><!--{"@type": "VideoObject", "contentUrl": "https://cdn.example/x.mp4"}-->
    </script>
    <script type="application/ld+json">"just a string"</script>
    <script type="application/ld+json">""" + "[" * 40 + "]" * 40 + """</script>
    <script type="application/ld+json">""" + "[" * 5000 + """</script>
    </head><body><a href="https://dai.ly/x8abc12">dm</a></body></html>"""
    assert keys(find_videos(page, "https://news.example/")) == [
        ("direct", "https://cdn.example/x.mp4", "json-ld"), ("dailymotion", "x8abc12", "link")]


def test_windows_1251_bytes_page() -> None:
    html = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
            '<title>Новости</title></head><body><p>Видео с места событий:</p>'
            '<video src="/видео/сюжет.mp4"></video>'
            '<iframe src="https://rutube.ru/play/embed/' + RUTUBE + '"></iframe>'
            '<a href="https://vk.com/video-1_2">ВКонтакте</a></body></html>')
    body = html.encode("cp1251")
    expected_file = "https://news.example/%D0%B2%D0%B8%D0%B4%D0%B5%D0%BE/%D1%81%D1%8E%D0%B6%D0%B5%D1%82.mp4"
    expected = [("direct", expected_file, "video"), ("rutube", RUTUBE, "iframe"), ("vk", "-1_2", "link")]
    assert keys(find_videos(body, "https://news.example/story")) == expected
    # The charset only in the HTTP header: bytes that are not UTF-8 are read as windows-1251,
    # and a caller that knows the header's charset can say so.
    headerless = html.replace('<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">', "")
    assert keys(find_videos(headerless.encode("cp1251"), "https://news.example/story")) == expected
    assert keys(find_videos(headerless.encode("cp1251"), "https://news.example/story",
                            encoding="windows-1251")) == expected
    # The same page as a str and as UTF-8 bytes (with a BOM) gives the same videos.
    assert keys(find_videos(html, "https://news.example/story")) == expected
    assert keys(find_videos(b"\xef\xbb\xbf" + headerless.encode("utf-8"), "https://news.example/story")) == expected


@pytest.mark.parametrize("garbage", [
    b"",
    "",
    "   \n\t ",
    b"\x00\x00\x00",
    bytes(range(256)) * 40,
    b"\xff\xfe\x00<\x00h\x00t\x00m\x00l",
    "<<<<>>>>",
    "<html><body><a href=",
    "<iframe src='http://[::1/embed'></iframe><a href='http://exa mple.com/x.mp4'>x</a>",
    "<?xml version='1.0' encoding='latin-1'?><html><body>no videos</body></html>",
    "<!-- only a comment -->",
    "<a href='https://youtu.be/" + "x" * 5000 + "'>long</a>",
    "<div>" * 5000 + "deep" + "</div>" * 5000,
])
def test_garbage_gives_no_videos_and_no_crash(garbage: str | bytes) -> None:
    assert find_videos(garbage, "https://news.example/") == []


def test_broken_markup_still_gives_what_it_can() -> None:
    page = (b"<html><body><p>unclosed <b>bold <iframe src='https://player.vimeo.com/video/76979871'></iframe>"
            b"\x00\xff\xfe binary \x81\x82 <a href=\"https://youtu.be/dQw4w9WgXcQ\">y</a"
            b"<table><tr><td><a href='https://t.me/durov/43'>t</td></table></b")
    assert [(r.provider, r.video_id) for r in find_videos(page, "https://news.example/")] == [
        ("vimeo", "76979871"), ("youtube", YT), ("telegram", "durov/43")]
    # An unclosed <iframe> makes the rest of the page its text, as in a browser; its own src still counts.
    unclosed = b"<p><iframe src='https://player.vimeo.com/video/76979871'><a href='https://youtu.be/" + YT.encode()
    assert [(r.provider, r.video_id) for r in find_videos(unclosed, "https://news.example/")] == [
        ("vimeo", "76979871")]


def test_bad_base_url_and_hrefs() -> None:
    page = f'<html><body><a href="watch?v={YT}">rel</a><iframe src="https://youtu.be/{YT}"></iframe></body></html>'
    assert keys(find_videos(page, "")) == [("youtube", YT, "iframe")]
    assert keys(find_videos(page, "not a url")) == [("youtube", YT, "iframe")]
    assert keys(find_videos(page, "http://[::1")) == [("youtube", YT, "iframe")]


def test_poster_and_audio_sources_are_not_videos() -> None:
    page = """<html><body><video poster="https://cdn.example/poster.mp4"></video>
    <audio><source src="https://cdn.example/podcast.mp4"></audio>
    <picture><source srcset="https://cdn.example/x.webm"></picture></body></html>"""
    assert find_videos(page, "https://news.example/") == []


def test_big_page_is_fast() -> None:
    filler = "".join(f"<div class='c{i}'><p>Paragraph {i} of the story, with <a href='/news/{i}'>a link</a> and "
                     f"<a href='https://other.example/x/{i}?a=1'>another</a>.</p></div>" for i in range(1500))
    page = (f"<html><head><title>Big</title></head><body>{filler}<iframe src='https://www.youtube.com/embed/{YT}'>"
            "</iframe></body></html>").encode()
    assert len(page) > 200_000
    assert keys(find_videos(page, "https://news.example/")) == [("youtube", YT, "iframe")]
    best = min(_timed(find_videos, page, "https://news.example/") for _ in range(5))
    assert best < 0.1, f"{best * 1000:.1f} ms for a {len(page) // 1000} KB page"


def _timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start
