"""Comment spam and ordinary comments written for this project, as spam training data.

The only spam corpus in ``train/`` is SMS: prizes, premium numbers, "txt WIN". Spam under
videos, posts and articles is another genre: self-promotion ("check out my channel", "sub
to me and I'll sub back"), follow-me requests, links to giveaways, gift cards, easy money
and cheap followers. These sentences describe that genre from general knowledge of how it
reads; no evaluation text was looked at to write them. The ordinary comments beside them
(about songs, videos, tutorials, games) are the negatives of the same domain, so that the
model learns what makes a comment spam rather than that comments are spam. Some of them
name a channel or subscribing in passing, as real comments do.

Every pattern is filled several times from the word lists below, in a fixed order, and
each sentence keeps the number of its pattern, so cross-validation can hold out whole
patterns.
"""

from __future__ import annotations

from classifiers.datasets import Example

SOURCE = "spam_templates"

# Slot values. A slot {x} in a pattern takes the values of _SLOTS["x"] in rotation.
_SLOTS: dict[str, tuple[str, ...]] = {
    "url": (
        "http://bit.ly/3kX9qPz", "www.freegiftzone.net", "https://tinyurl.com/y7m2kq4p",
        "http://www.easycash-online.info", "www.getfollowersfast.com",
        "https://goo.gl/Hf7w2e", "http://rewardsdaily.biz/claim", "www.bestdeals4u.co",
        "https://promo-win.xyz/?ref=881", "http://my-beats-store.com", "www.subboost.org",
        "https://linktr.ee/djkaymusic", "http://cheapmedsdirect.ru", "www.winiphone.top",
    ),
    "content": (
        "music covers", "gaming videos", "comedy sketches", "makeup tutorials", "vlogs",
        "rap songs", "beats", "dance videos", "cooking videos", "minecraft let's plays",
        "guitar covers", "prank videos", "piano covers", "funny animations", "fortnite clips",
    ),
    "prize": (
        "free gift cards", "a free iPhone", "free PSN codes", "a $100 Amazon gift card",
        "free Xbox Live codes", "free iTunes cards", "free V-Bucks", "free robux",
        "a free PS5", "free Steam wallet codes", "free movie tickets", "a free laptop",
    ),
    "platform": (
        "instagram", "twitter", "soundcloud", "twitch", "tiktok", "facebook", "snapchat",
    ),
    "handle": (
        "@jaymusic99", "@its_kayla_sings", "@beatsbymarco", "@dancewithlia", "@djkay_official",
        "@trickshot_tom", "@makeupbynina",
    ),
    "money": ("$500", "$1,000", "$300", "$250", "$2,000", "$150", "$800"),
    "n": ("1000", "500", "10k", "5000", "200", "100k", "2000"),
    "product": (
        "sunglasses", "designer handbags", "phone cases", "weight loss pills", "sneakers",
        "watches", "followers", "likes and views", "replica watches",
    ),
    "phone": ("+1 415 555 0199", "+44 7700 900123", "+1 (646) 555-0142", "0800 555 0170"),
    "name": ("Kayla", "Marco", "Jay", "Lia", "Tom", "Nina", "Dev", "Sam", "Aisha"),
    "age": ("14", "15", "16", "17", "19", "21", "13"),
    "pronoun": ("Her", "His", "Their"),
    "time": ("1:23", "2:45", "0:58", "3:10", "2:02", "4:17", "1:40"),
    "year": ("2015", "2019", "2021", "2023", "2024", "2012", "2017"),
    "views": ("a billion", "2 billion", "800 million", "300 million", "50 million"),
    "relative": ("little sister", "mom", "dad", "grandma", "son", "daughter", "brother"),
    "memory": (
        "high school", "summer camp", "my first car", "road trips with my dad",
        "my college dorm", "my childhood", "my wedding",
    ),
    "event": ("wedding", "prom", "graduation party", "birthday", "school dance"),
    "topic": ("recursion", "fractions", "chords", "compound interest", "the offside rule"),
    "task": (
        "my homework", "my guitar practice", "fixing my bike", "my first website",
        "baking bread",
    ),
}  # fmt: skip

_SPAM_OPENERS = ("", "Hey guys! ", "Hi everyone, ", "Sorry for the spam but ", "PLEASE READ: ")
_SPAM_CLOSERS = ("", " Thanks!", " :)", " Thank you so much!", " <3", " Please!!")
_HAM_OPENERS = ("", "Omg ", "Wow, ", "Honestly ", "lol ", "Ok but ", "Man, ")
_HAM_CLOSERS = ("", "!!", " ❤", " 😂", " 👏", " haha", "...")

SPAM_PATTERNS: tuple[str, ...] = (
    "Check out my channel! I make {content}.",
    "please check out my channel, I upload {content} every week",
    "Please subscribe to my channel, I'm trying to reach {n} subscribers",
    "Sub to me and I will sub back!",
    "I'm a small youtuber making {content}, it would mean the world if you checked me out",
    "Can everyone please go watch my new video? {url}",
    "Check out my cover of this song {url}",
    "Listen to my new mixtape on {platform}: {url}",
    "Follow me on {platform} {handle}",
    "Like this comment so everyone can see my channel",
    "If you like {content}, subscribe to me",
    "Visit {url} for {prize}",
    "Get {prize} at {url}",
    "FREE {prize}!!! Just go to {url}",
    "I got {prize} from this site and it actually works: {url}",
    "Make {money} a day working from home, go to {url}",
    "I earn {money} a week online, click the link to learn how {url}",
    "Want to make money fast? Visit {url}",
    "Earn money just by watching videos {url}",
    "Hot singles in your area, sign up free at {url}",
    "Lose 20 pounds in 3 weeks with this one trick {url}",
    "Buy cheap {product} online at {url}",
    "Best deals on {product} at {url}, limited offer",
    "Invest in bitcoin and double your money, message me on WhatsApp {phone}",
    "Click here to win {prize} {url}",
    "Please help my channel grow, I just started and I make {content}",
    "Go to my channel and watch my videos, I worked really hard on them",
    "I'm {name}, a {age} year old singer, please check out my covers",
    "Share this video and get {prize}: {url}",
    "Vote for my video in the contest {url}",
    "Promote your channel for free at {url}",
    "Get {n} views and subscribers instantly at {url}",
    "Everyone go to {url} right now",
    "Take this short survey and win {prize} {url}",
    "Support me by subscribing, I sub back to everyone who comments",
    "Who wants {prize}? Reply and check my profile",
    "My friend {name} makes amazing {content}, go subscribe to her channel",
    "Need more {product}? Order now at {url}",
    "Text me on WhatsApp {phone} to start earning {money} a week",
    "Watch my {content} on my channel, new upload every day",
)

HAM_PATTERNS: tuple[str, ...] = (
    "I love this song so much",
    "This song never gets old",
    "{pronoun} voice is amazing in this one",
    "Who else is still listening in {year}?",
    "This video always makes me smile",
    "The part at {time} is hilarious",
    "I've had this on repeat all week",
    "This brings back so many memories of {memory}",
    "The dancing in this video is incredible",
    "Best music video of {year}",
    "Can't believe this has {views} views",
    "My {relative} loves this song",
    "Thanks for the tutorial, it really helped with {task}",
    "Great explanation, I finally understand {topic}",
    "What camera did you use for this video?",
    "The drummer is so underrated",
    "I came here after hearing it on the radio",
    "The lyrics are so meaningful",
    "This was playing at my {event}",
    "The ending of this video made me cry",
    "Does anyone know the name of the song at {time}?",
    "Your videos keep getting better",
    "I watched this with my {relative} and we both loved it",
    "The sound is a bit quiet on this upload",
    "This is my favourite song on the album",
    "Such a catchy tune, it's been stuck in my head since {year}",
    "I don't really like the song but the video is cool",
    "Nobody sings it like this",
    "This deserves way more views",
    "{year} and still one of the best songs ever",
    "I learned this dance for my {event}",
    "The choreography at {time} is perfect",
    "Is there a live version of this?",
    "I miss the days when this came out",
    "Every time I hear this I think of {memory}",
    "The guitar solo at {time} gives me chills",
    "So glad I found this channel, your {content} are great",
    "Been subscribed for years and I still watch every upload",
    "The comments on this video are hilarious",
    "I saw them live in {year} and it was the best night ever",
    "Who is watching this after the news?",
    "Came back to this after {year}, still a masterpiece",
    "The editing in this is so smooth",
    "My {relative} and I used to sing this in the car",
    "This reminds me of {memory}",
    "The best {content} on the internet, no question",
)


def _fill(pattern: str, pattern_number: int, fill_number: int) -> str:
    values = {
        slot: options[(pattern_number * 7 + fill_number * 3 + len(slot)) % len(options)]
        for slot, options in _SLOTS.items()
    }
    return pattern.format(**values)


def _sentences(
    patterns: tuple[str, ...], fills: int, openers: tuple[str, ...], closers: tuple[str, ...]
) -> list[tuple[str, int]]:
    sentences: dict[str, int] = {}
    for number, pattern in enumerate(patterns):
        for fill in range(fills):
            text = _fill(pattern, number, fill)
            opener = openers[(number + fill) % len(openers)]
            closer = closers[(number * 3 + fill // len(openers)) % len(closers)]
            text = opener + (text[0].lower() + text[1:] if opener else text) + closer
            if (number + fill) % 11 == 0:
                text = text.upper()
            sentences.setdefault(text, number)
    return list(sentences.items())


SPAM_FILLS = 40
HAM_FILLS = 30


def spam_template_examples() -> list[tuple[Example, int]]:
    """Spam (1) and ordinary comments (0), each with a group number: its pattern's
    number, ham patterns numbered after the spam ones. Silent on every abuse label."""
    examples = [
        (Example(text, SOURCE, {"spam": 1}), number)
        for text, number in _sentences(SPAM_PATTERNS, SPAM_FILLS, _SPAM_OPENERS, _SPAM_CLOSERS)
    ]
    examples += [
        (Example(text, SOURCE, {"spam": 0}), len(SPAM_PATTERNS) + number)
        for text, number in _sentences(HAM_PATTERNS, HAM_FILLS, _HAM_OPENERS, _HAM_CLOSERS)
    ]
    return examples
