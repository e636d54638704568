"""Sentences where context, not vocabulary, decides: written for this project, in English
and French, as training data for the encoder heads.

A bag-of-words model sees "vermin" in "saying 'immigrants are vermin' is disgusting" and
flags the person objecting; it sees no insult word in "you people are all the same,
animals" and lets it through. These sentences teach the difference:

- dehumanising comparisons without slurs, implicit stereotypes and threats aimed at
  identity groups (abusive: toxicity, insult, identity_attack; threat where it is one);
- the same words negated, quoted to object to them, reported as news, or used inside
  one's own group (not abusive);
- insults aimed at groups of political opponents, on both sides of many policies
  (toxicity and insult, not identity_attack: a stance is not an identity);
- civil statements of the same opinions, including firm disagreement (not abusive), so
  that the model learns manners, not ideology.

Every pattern is filled from word lists in a fixed order, and each sentence keeps the
number of its pattern, so cross-validation holds out whole patterns. A second, disjoint
set of patterns, groups, topics and words (``validation_examples``) is never trained on:
it measures whether what was learnt carries over to phrasings the model never saw.
No evaluation corpus was looked at to write any of them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from classifiers.datasets import Example

SOURCE = "context_templates"
VALIDATION_SOURCE = "context_validation"

_ABUSIVE = {"toxicity": 1, "insult": 1, "identity_attack": 1, "threat": 0}
_THREAT = {"toxicity": 1, "insult": 1, "identity_attack": 1, "threat": 1}
_OPPONENT_INSULT = {"toxicity": 1, "insult": 1, "identity_attack": 0, "threat": 0}
_BENIGN = {"toxicity": 0, "insult": 0, "identity_attack": 0, "threat": 0}
# Swearing that attacks nobody: profane, and not toxic (the policy labels swearing on its own).
_PROFANE = {**_BENIGN, "profanity": 1}


@dataclass(frozen=True)
class Family:
    """Patterns of one kind, their targets, and the slot they are filled from
    (``{g}`` a group, ``{w}`` an insult word, ``{s}``/``{t}`` a stance and a topic)."""

    kind: str
    targets: dict[str, int]
    patterns: tuple[str, ...]


# --- English ---------------------------------------------------------------------------------

_EN_GROUPS = (
    "immigrants", "Muslims", "Jews", "gay people", "trans people", "women", "Black people",
    "refugees", "Mexicans", "Christians", "disabled people", "Asians", "lesbians", "Roma",
)  # fmt: skip
_EN_WORDS = ("idiot", "moron", "cripple", "spastic", "freak", "imbecile", "loser")
_EN_TOPICS = (
    "rent control", "a carbon tax", "stricter gun laws", "abortion rights",
    "raising the minimum wage", "limits on immigration", "school vouchers", "nuclear power",
    "the border wall", "universal healthcare", "tax cuts for business", "the death penalty",
    "vaccine mandates", "legalising cannabis", "leaving the EU", "stronger unions",
    "affirmative action", "building more pipelines", "defunding the police", "free tuition",
)  # fmt: skip
_EN_STANCES = ("support", "oppose")

_EN_FAMILIES = (
    Family(
        "dehumanising",
        _ABUSIVE,
        (
            "{G} are animals.",
            "{G} are vermin and they breed like rats.",
            "{G} are a disease spreading through this country.",
            "{G} are parasites living off the rest of us.",
            "{G} are not really human, they are savages.",
            "{G} are a cancer on this society.",
            "Those {g} are like cockroaches, they get in everywhere.",
            "You people are nothing but animals.",
            "You lot are all the same, filthy beasts.",
            "{G} should be kept in cages like the beasts they are.",
            "Every one of those {g} is subhuman garbage.",
            "{G}? Vermin, the lot of them.",
            "{G} are filth and should be treated like filth.",
            "{G} are a plague on this country.",
            "{G} are rats, every single one of them.",
            "{G} are subhuman.",
            "{G} are dogs and deserve to be treated like dogs.",
            "{G} are a swarm of locusts eating everything we built.",
            "{G} are less than human.",
            "{G} are a virus that has to be stopped.",
            "{G} are pigs wallowing in their own dirt.",
            "Honestly, {g} are just dirty animals.",
            "You people are vermin.",
            "You people are a disease on this town.",
            "You and your kind are animals.",
            "You people are all beasts, every one of you.",
        ),
    ),
    Family(
        "civil-comparison",
        _BENIGN,
        (
            "{G} are like family to me.",
            "{G} are human beings, just like everyone else.",
            "{G} are our neighbours and our friends.",
            "{G} are a gift to this country.",
            "{G} are the heart of this community.",
            "{G} are as human as anyone.",
            "Honestly, {g} are just good people.",
            "{G} work hard and make this city better.",
            "{G} want what everyone wants: a safe home for their kids.",
            "My closest friends are {g}, and they are like brothers and sisters to me.",
            "You people are wonderful, thank you for everything.",
            "You people are all so kind to us.",
            "You and your family are always welcome here.",
            "You people are all the same: generous to a fault.",
        ),
    ),
    Family(
        "stereotype",
        _ABUSIVE,
        (
            "{G} are all criminals.",
            "Never trust {g}, lying is in their nature.",
            "{G} can't help being stupid, it's in their blood.",
            "{G} ruin every neighbourhood they move into.",
            "Of course he stole it, he's one of those {g}.",
            "{G} don't belong here and never will.",
            "Go back where you came from, nobody wants {g} here.",
            "{G} are too dumb to be allowed to vote.",
            "Typical {g}, always begging for handouts.",
        ),
    ),
    Family(
        "threat",
        _THREAT,
        (
            "{G} should be wiped out.",
            "Someone should burn down the homes of {g}.",
            "We need to get rid of {g} for good, by force if needed.",
            "I'd happily shoot every one of those {g}.",
        ),
    ),
    Family(
        "negation",
        _BENIGN,
        (
            "I don't hate {g}.",
            "{G} are not animals, they are our neighbours.",
            "It is simply false that {g} are criminals.",
            "Nobody should ever say that {g} are vermin.",
            "I have never thought of {g} as a threat.",
            "No, {g} are not a disease, and saying so is cruel.",
        ),
    ),
    Family(
        "counter-speech",
        _BENIGN,
        (
            "Saying '{g} are vermin' is disgusting.",
            "When he said {g} are animals, I reported him.",
            "Calling {g} parasites is dehumanising and wrong.",
            "Stop describing {g} as a disease, it's hateful.",
            "'{G} are animals' is exactly the rhetoric that leads to violence.",
            "People who call {g} subhuman should be ashamed of themselves.",
            "I'm sick of hearing that {g} are criminals; it isn't true.",
        ),
    ),
    Family(
        "reporting",
        _BENIGN,
        (
            "The report documents a rise in attacks on {g}.",
            "The senator was criticised for calling {g} criminals.",
            "Researchers counted how often {g} are compared to animals online.",
            "The court convicted a man who threatened {g} outside a school.",
            "The leaflet described {g} as vermin, and the police are investigating.",
        ),
    ),
    Family(
        "in-group",
        _BENIGN,
        (
            "As one of the {g} here, I'm tired of hearing that we are a problem.",
            "Proud to stand with {g} today.",
            "We {g} have been called animals for years, and we're still here.",
            "My friends and I are {g}, and we joke about the stereotypes all the time.",
        ),
    ),
    Family(
        "quoted-word",
        _BENIGN,
        (
            "Calling someone a '{w}' hurts, please stop using that word.",
            "Please don't use '{w}' as an insult.",
            "My teacher explained why '{w}' is an offensive word.",
            "The word '{w}' is hurtful to a lot of people.",
            "Is it ever okay to call someone a {w}? I don't think so.",
        ),
    ),
    Family(
        "opponent-insult",
        _OPPONENT_INSULT,
        (
            "People who {s} {t} are morons and should shut up.",
            "Anyone who would {s} {t} is a brain-dead idiot.",
            "Everyone who wants to {s} {t} is a pathetic clown.",
            "If you {s} {t} you are too stupid to vote.",
            "Those who {s} {t} are scum, every last one of them.",
            "Only an imbecile would {s} {t}. Go away.",
        ),
    ),
    Family(
        "civil-opinion",
        _BENIGN,
        (
            "I {s} {t} because I think it helps families.",
            "People who {s} {t} make some fair points, but I disagree.",
            "I used to {s} {t}, but the evidence changed my mind.",
            "Let's hear from people who {s} {t} before the vote.",
            "In my view, people who {s} {t} are wrong about the economics.",
            "I strongly {s} {t} and I will vote accordingly.",
            "Calling people who {s} {t} idiots is not an argument.",
        ),
    ),
    Family(
        "hatred",
        _ABUSIVE,
        (
            "I hate {g}.",
            "I despise {g} with every fibre of my being.",
            "{G} make me sick.",
            "I can't stand {g}, they disgust me.",
            "Nothing disgusts me more than {g}.",
            "I loathe {g} and I always will.",
            "Being anywhere near {g} makes my skin crawl.",
            "I'm so fed up with {g}, I wish they would all vanish.",
            "{G} are disgusting.",
            "{G} are lazy, dirty and worthless.",
            "{G} are revolting, all of them.",
        ),
    ),
    Family(
        "implicit",
        _ABUSIVE,
        (
            "I would never let my daughter marry one of those {g}.",
            "This street was so much nicer before {g} moved in.",
            "I'd never hire {g}, we all know what they're like.",
            "Having {g} next door would ruin the value of any house.",
            "{G} belong in a zoo, not in our schools.",
            "We don't serve {g} in this shop.",
            "A country full of {g} is not a country any more.",
            "Keep {g} out of our neighbourhood, whatever it takes.",
        ),
    ),
    Family(
        "question",
        _ABUSIVE,
        (
            "Why are {g} so disgusting?",
            "Why can't {g} ever do anything right?",
            "Isn't it obvious that {g} are a danger to everyone?",
            "Has anyone ever met {g} who weren't liars?",
            "Why do {g} always have to be such parasites?",
        ),
    ),
    Family(
        "opinion",
        _ABUSIVE,
        (
            "I think {g} are disgusting.",
            "I honestly believe {g} are inferior.",
            "In my opinion, {g} are scum.",
            "I feel like {g} are a burden on everyone.",
            "If you ask me, {g} are a waste of space.",
        ),
    ),
    Family(
        "negated-positive",
        _ABUSIVE,
        (
            "{G} are never any good at anything.",
            "Not one of those {g} has ever done anything of value.",
            "{G} are not capable of being honest.",
            "There is nothing good about {g}, nothing at all.",
            "I have never met {g} worth respecting.",
        ),
    ),
    Family(
        "later-reference",
        _ABUSIVE,
        (
            "I met a group of {g} today. They are all filthy liars.",
            "{G} moved in next door. I hope they all drop dead.",
            "My new coworkers are {g}. Disgusting creatures, every one of them.",
            "There were {g} on the bus again. Someone should get rid of them.",
        ),
    ),
    Family(
        "group-threat",
        _THREAT,
        (
            "I'm going to kill every one of those {g}.",
            "{G} deserve to be beaten until they learn.",
            "We will hunt {g} down one by one.",
            "{G} should be lined up and shot.",
            "If I see any {g} near my house, I'll break their legs.",
            "It's time to take up arms against {g}.",
            "All {g} should hang.",
        ),
    ),
    Family(
        "civil-question",
        _BENIGN,
        (
            "Why are {g} so often left out of these surveys?",
            "What can we do to make {g} feel welcome here?",
            "Has anyone read the new study about {g} and housing?",
            "Why do so many people still discriminate against {g}?",
            "I think {g} deserve the same respect as anyone.",
            "In my opinion, {g} have been treated unfairly for far too long.",
        ),
    ),
    Family(
        "denouncing",
        _BENIGN,
        (
            '"{G} are disgusting" is a vile thing to say about anyone.',
            "If you post '{g} should die' you deserve to be banned.",
            "Someone painted 'no {g}' on the school wall and the whole town is angry.",
            "He called {g} 'filth' on air and was rightly fired.",
            "Comments like 'I hate {g}' have no place on this forum.",
            "That thread about {g} is hateful and the mods should remove it.",
            "What you said about {g} is bigoted and cruel.",
            "Talking about {g} that way is plain bigotry.",
        ),
    ),
    Family(
        "not-people",
        _BENIGN,
        (
            # Hatred, disgust and even extermination aimed at things, weather and pests:
            # the words of hate speech without a person or group as their target.
            "I hate Mondays so much.",
            "Broccoli is disgusting, I can't stand it.",
            "This weather makes me sick.",
            "I despise traffic jams with every fibre of my being.",
            "Nothing disgusts me more than cold coffee.",
            "I loathe spreadsheets and I always will.",
            "Why is this printer so useless?",
            "I think pineapple on pizza is revolting.",
            "Cockroaches get in everywhere, they are disgusting.",
            "The rats in our cellar should be wiped out.",
            "Slugs ate my whole garden, I want every one of them gone.",
            "Honestly, this phone is a worthless piece of junk.",
        ),
    ),
    Family(
        "profanity",
        _PROFANE,
        (
            "Holy shit, that gig last night was fucking brilliant!",
            "Spilled coffee on my damn laptop, what a crap start to the week.",
            "Fuck yeah, we won the final!",
            "This pizza is so damn good.",
            "Shit, I forgot my keys at home again.",
            "That was one hell of a fucking good game.",
            "Bloody hell, the train is late again.",
            "Oh crap, I burnt the toast.",
            "Damn, this view is gorgeous.",
            "Fucking finally, the weekend is here!",
            "Holy crap, you actually finished the marathon? Congrats!",
            "My exam went like shit, but at least it's over.",
            "What the hell, the shop closed an hour early.",
            "This band is so fucking good, I've played the album all week.",
            "Ugh, the damn wifi is down again.",
            "Hell yes, count me in for Saturday!",
            "Shit happens, we'll try again tomorrow.",
            "That cake was bloody delicious, thanks for baking it.",
        ),
    ),
)

# --- French ----------------------------------------------------------------------------------

_FR_GROUPS = (
    "les immigrés", "les musulmans", "les juifs", "les homosexuels", "les femmes",
    "les Noirs", "les réfugiés", "les Arabes", "les Roms", "les personnes trans",
)  # fmt: skip
_FR_WORDS = ("débile", "crétin", "mongol", "attardé", "abruti")
_FR_TOPICS = (
    "la réforme des retraites", "la taxe carbone", "le nucléaire", "le mariage pour tous",
    "la limitation de l'immigration", "la hausse du SMIC", "l'encadrement des loyers",
    "la sortie de l'Europe", "la vaccination obligatoire", "la légalisation du cannabis",
    "la semaine de quatre jours", "la peine de mort",
)  # fmt: skip
_FR_STANCES = ("soutenir", "combattre")

_FR_FAMILIES = (
    Family(
        "dehumanising",
        _ABUSIVE,
        (
            "{G} sont des animaux.",
            "{G} sont de la vermine, ils se reproduisent comme des rats.",
            "{G} sont une maladie qui ronge ce pays.",
            "{G} sont des parasites qui vivent sur notre dos.",
            "{G} ne sont pas des humains, ce sont des sauvages.",
            "Vous êtes tous pareils, des bêtes.",
            "{G}, c'est un cancer pour la société.",
            "Tous ces gens-là, {g}, ce sont des cafards.",
            "{G} sont des chiens.",
            "{G} sont des sous-hommes.",
            "{G} sont une peste pour ce pays.",
            "{G} sont des rats, tous autant qu'ils sont.",
            "{G} sont sales comme des porcs.",
            "{G}, c'est un virus qu'il faut arrêter.",
            "{G} ne sont que des bêtes sauvages.",
            "Vous êtes de la vermine.",
            "Vous et vos semblables, vous êtes des animaux.",
        ),
    ),
    Family(
        "civil-comparison",
        _BENIGN,
        (
            "{G} sont comme une famille pour moi.",
            "{G} sont des êtres humains comme tout le monde.",
            "{G} sont nos voisins et nos amis.",
            "{G} sont une chance pour ce pays.",
            "{G} font vivre notre quartier.",
            "Franchement, {g} sont des gens bien.",
            "Vous êtes formidables, merci pour tout.",
            "Vous êtes tous tellement gentils avec nous.",
            "Vous êtes tous pareils : généreux jusqu'au bout.",
        ),
    ),
    Family(
        "stereotype",
        _ABUSIVE,
        (
            "{G} sont tous des délinquants.",
            "Ne faites jamais confiance : {g} mentent tous.",
            "{G} n'ont rien à faire ici, qu'ils rentrent chez eux.",
            "{G} détruisent tous les quartiers où ils s'installent.",
            "Forcément qu'il a volé, {g} sont tous pareils.",
            "{G} sont trop bêtes pour voter.",
        ),
    ),
    Family(
        "threat",
        _THREAT,
        (
            "Il faudrait exterminer {g}.",
            "Quelqu'un devrait mettre le feu chez {g}.",
            "On va chasser {g} une bonne fois pour toutes, par la force.",
        ),
    ),
    Family(
        "negation",
        _BENIGN,
        (
            "Je ne déteste pas {g}.",
            "Non, {g} ne sont pas des animaux, ce sont nos voisins.",
            "C'est faux de dire que {g} sont des délinquants.",
            "Personne ne devrait dire que {g} sont de la vermine.",
        ),
    ),
    Family(
        "counter-speech",
        _BENIGN,
        (
            "Dire que « {g} sont de la vermine » est ignoble.",
            "Quand il a dit que {g} sont des animaux, je l'ai signalé.",
            "Traiter {g} de parasites, c'est déshumanisant et inacceptable.",
            "Arrêtez de présenter {g} comme une maladie, c'est de la haine.",
            "Ceux qui disent que {g} sont des sous-hommes devraient avoir honte.",
        ),
    ),
    Family(
        "reporting",
        _BENIGN,
        (
            "Le rapport constate une hausse des agressions contre {g}.",
            "Le député a été condamné pour avoir traité {g} de délinquants.",
            "L'étude mesure combien de fois {g} sont comparés à des animaux en ligne.",
            "Le tract présentait {g} comme de la vermine ; une enquête est ouverte.",
        ),
    ),
    Family(
        "in-group",
        _BENIGN,
        (
            "Je fais partie de la communauté et je suis las d'entendre que {g} posent problème.",
            "Fiers d'être avec {g} aujourd'hui.",
        ),
    ),
    Family(
        "quoted-word",
        _BENIGN,
        (
            "Traiter quelqu'un de « {w} », ça blesse, s'il te plaît arrête.",
            "N'utilisez pas « {w} » comme une insulte.",
            "Le mot « {w} » est blessant pour beaucoup de gens.",
        ),
    ),
    Family(
        "opponent-insult",
        _OPPONENT_INSULT,
        (
            "Ceux qui veulent {s} {t} sont des crétins, qu'ils se taisent.",
            "Il faut être complètement débile pour {s} {t}.",
            "Tous ceux qui veulent {s} {t} sont des abrutis finis.",
            "Si tu veux {s} {t}, t'es trop con pour voter.",
        ),
    ),
    Family(
        "civil-opinion",
        _BENIGN,
        (
            "Je veux {s} {t}, parce que je pense que ça aide les familles.",
            "Ceux qui veulent {s} {t} ont des arguments, mais je ne suis pas d'accord.",
            "Je voulais {s} {t}, mais les chiffres m'ont fait changer d'avis.",
            "À mon avis, ceux qui veulent {s} {t} se trompent sur l'économie.",
            "Traiter d'idiots ceux qui veulent {s} {t}, ce n'est pas un argument.",
        ),
    ),
    Family(
        "hatred",
        _ABUSIVE,
        (
            "Je hais {g}.",
            "{G} me dégoûtent.",
            "Je ne supporte pas {g}, ils me donnent envie de vomir.",
            "Rien ne m'écœure plus que {g}.",
            "{G} sont répugnants.",
            "{G} sont sales, paresseux et bons à rien.",
        ),
    ),
    Family(
        "implicit",
        _ABUSIVE,
        (
            "Jamais je ne laisserai ma fille épouser quelqu'un comme {g}.",
            "Le quartier était bien plus agréable avant que {g} arrivent.",
            "Je n'embaucherai jamais {g}, on sait tous comment ils sont.",
            "{G}, leur place est au zoo, pas dans nos écoles.",
        ),
    ),
    Family(
        "question",
        _ABUSIVE,
        (
            "Pourquoi {g} sont-ils si sales ?",
            "{G} sont-ils tous des menteurs ou quoi ?",
            "Pourquoi {g} sont-ils toujours des parasites ?",
        ),
    ),
    Family(
        "opinion",
        _ABUSIVE,
        (
            "Je pense que {g} sont inférieurs.",
            "À mon avis, {g} sont une race de profiteurs.",
            "Franchement, je trouve que {g} sont une plaie.",
        ),
    ),
    Family(
        "negated-positive",
        _ABUSIVE,
        (
            "{G} ne sont bons à rien.",
            "{G} ne font jamais rien d'utile.",
            "Il n'y a rien de bon chez {g}.",
        ),
    ),
    Family(
        "later-reference",
        _ABUSIVE,
        (
            "J'ai croisé {g} ce matin. Tous des voleurs.",
            "{G} se sont installés à côté. J'espère qu'ils vont crever.",
        ),
    ),
    Family(
        "group-threat",
        _THREAT,
        (
            "Je vais tuer {g}, un par un.",
            "{G} méritent d'être tabassés.",
            "Il faut fusiller {g}.",
            "Si je vois {g} près de chez moi, je leur casse les jambes.",
        ),
    ),
    Family(
        "civil-question",
        _BENIGN,
        (
            "Pourquoi {g} sont-ils si souvent discriminés ?",
            "Que faire pour que {g} se sentent bienvenus ici ?",
            "Je pense que {g} méritent le même respect que tout le monde.",
            "À mon avis, {g} sont traités injustement depuis trop longtemps.",
        ),
    ),
    Family(
        "denouncing",
        _BENIGN,
        (
            "Écrire « {g} dehors » sur un mur, c'est un délit.",
            "Des propos comme « je déteste {g} » n'ont rien à faire ici.",
            "Ce que tu as écrit sur {g} est raciste, supprime-le.",
            "Prétendre que {g} sont des voleurs, c'est du racisme pur.",
        ),
    ),
    Family(
        "not-people",
        _BENIGN,
        (
            "Je déteste les lundis.",
            "Les brocolis, c'est dégoûtant, je ne supporte pas.",
            "Ce temps me rend malade.",
            "Rien ne me dégoûte plus que le café froid.",
            "Les cafards dans la cuisine, c'est immonde, on a appelé le désinfecteur.",
            "Pourquoi cette imprimante est-elle aussi nulle ?",
            "Les limaces ont dévoré mon potager, je veux toutes les exterminer.",
            "Franchement, ce téléphone est une vraie camelote.",
        ),
    ),
    Family(
        "profanity",
        _PROFANE,
        (
            "Putain, quelle soirée de folie hier !",
            "Merde, j'ai encore oublié mes clés.",
            "Bordel, ce concert était incroyable.",
            "Cette pizza est vachement bonne, putain.",
            "Et merde, le train est encore en retard.",
            "Putain de pluie, encore annulé le pique-nique.",
            "Bordel, j'ai encore perdu mes lunettes.",
            "Merde alors, tu as réussi ton permis ? Bravo !",
            "Ce film est vachement bien, putain, allez le voir.",
            "Fait chier, le magasin est déjà fermé.",
        ),
    ),
)

# --- Validation only: other groups, words, topics and phrasings ------------------------------

_EN_VALIDATION_GROUPS = ("Arabs", "Catholics", "bisexual people", "Africans", "Hindus", "migrants")
_EN_VALIDATION_WORDS = ("retard", "dumbass", "halfwit")
_EN_VALIDATION_TOPICS = (
    "congestion pricing", "a wealth tax", "a four-day work week", "fracking", "term limits",
    "a ban on private schools",
)  # fmt: skip
_EN_VALIDATION_FAMILIES = (
    Family(
        "dehumanising",
        _ABUSIVE,
        (
            "{G} are an infestation.",
            "You people are all the same, animals.",
            "{G} multiply like insects.",
            "{G} are nothing but filth.",
            "You people are disgusting creatures.",
            "{G} are a pack of wild dogs.",
        ),
    ),
    Family(
        "civil-comparison",
        _BENIGN,
        (
            "{G} are a treasure to this country.",
            "You people are all so generous.",
            "{G} have been like a second family to us.",
        ),
    ),
    Family("stereotype", _ABUSIVE, ("{G} are born thieves.", "Keep {g} away from our kids.")),
    Family(
        "negation",
        _BENIGN,
        (
            "I would never call {g} an infestation.",
            "I don't find {g} repulsive in the slightest.",
            "It's a lie that {g} can't be trusted.",
        ),
    ),
    Family(
        "counter-speech",
        _BENIGN,
        (
            "The post claiming {g} multiply like insects should be taken down.",
            "Comparing {g} to insects is vile.",
        ),
    ),
    Family(
        "quoted-word", _BENIGN, ("Calling someone a '{w}' is hurtful, please don't use that word.",)
    ),
    Family(
        "opponent-insult",
        _OPPONENT_INSULT,
        (
            "Whoever would {s} {t} deserves to be mocked, what a bunch of morons.",
            "People who {s} {t} are idiots with nothing between their ears.",
        ),
    ),
    Family(
        "civil-opinion",
        _BENIGN,
        (
            "Here is why I {s} {t}: the numbers look convincing to me.",
            "Reasonable people {s} {t}, and I respect them.",
        ),
    ),
    Family(
        "hatred",
        _ABUSIVE,
        ("Honestly, I detest {g}.", "{G} fill me with nothing but disgust."),
    ),
    Family(
        "implicit",
        _ABUSIVE,
        (
            "I'd sell my house the day {g} bought the place next door.",
            "No landlord in his right mind rents to {g}.",
        ),
    ),
    Family("question", _ABUSIVE, ("Why are {g} such a plague on decent people?",)),
    Family("opinion", _ABUSIVE, ("Personally, I find {g} repulsive.",)),
    Family("negated-positive", _ABUSIVE, ("{G} have never contributed a single thing.",)),
    Family(
        "later-reference", _ABUSIVE, ("A family of {g} rented the flat upstairs. Vile people.",)
    ),
    Family(
        "group-threat",
        _THREAT,
        ("I will make {g} bleed for this.", "{G} ought to be shot on sight."),
    ),
    Family(
        "civil-question",
        _BENIGN,
        ("How can we help {g} find work here?", "I believe {g} enrich this city."),
    ),
    Family(
        "denouncing",
        _BENIGN,
        (
            "Writing '{g} are filth' on a wall is a hate crime.",
            "Saying you hate {g} is bigotry, plain and simple.",
        ),
    ),
    Family(
        "not-people",
        _BENIGN,
        (
            "I can't bear the smell of boiled cabbage.",
            "Wasps are a plague this summer, I want every nest destroyed.",
        ),
    ),
    Family(
        "profanity",
        _PROFANE,
        (
            "Damn, that was a hell of a good match.",
            "Holy shit, my sister just had twins!",
            "Fucking hell, this weather is gorgeous today.",
        ),
    ),
)
_FR_VALIDATION_GROUPS = ("les migrants", "les Maghrébins", "les lesbiennes", "les Africains")
_FR_VALIDATION_WORDS = ("taré", "demeuré")
_FR_VALIDATION_TOPICS = ("le péage urbain", "l'impôt sur la fortune", "les éoliennes")
_FR_VALIDATION_FAMILIES = (
    Family(
        "dehumanising",
        _ABUSIVE,
        ("{G}, c'est une invasion de nuisibles.", "{G} sont des porcs, rien de plus."),
    ),
    Family(
        "civil-comparison",
        _BENIGN,
        ("{G} sont le cœur de notre ville.", "Vous êtes tous adorables."),
    ),
    Family("negation", _BENIGN, ("Je ne trouve pas du tout que {g} soient un problème.",)),
    Family("counter-speech", _BENIGN, ("Comparer {g} à des nuisibles, c'est honteux.",)),
    Family("quoted-word", _BENIGN, ("Le mot « {w} » n'est pas une insulte acceptable.",)),
    Family(
        "opponent-insult",
        _OPPONENT_INSULT,
        ("Ceux qui veulent {s} {t} sont des imbéciles, point.",),
    ),
    Family("civil-opinion", _BENIGN, ("Je souhaite {s} {t} et voici pourquoi.",)),
    Family("hatred", _ABUSIVE, ("J'ai horreur de {g}, ils me répugnent.",)),
    Family("question", _ABUSIVE, ("Pourquoi {g} sont-ils tous aussi crasseux ?",)),
    Family("group-threat", _THREAT, ("On finira par régler leur compte à {g}, à coups de batte.",)),
    Family("civil-question", _BENIGN, ("Comment aider {g} à trouver un logement ?",)),
    Family("denouncing", _BENIGN, ("Dire qu'on hait {g}, c'est du racisme, tout simplement.",)),
    Family("not-people", _BENIGN, ("Je hais les embouteillages.",)),
    Family("profanity", _PROFANE, ("Putain, quel concert magnifique !",)),
)


def _capitalise(text: str) -> str:
    return text[0].upper() + text[1:]


def _fill(
    language: str,
    families: Sequence[Family],
    groups: Sequence[str],
    words: Sequence[str],
    stances: Sequence[str],
    topics: Sequence[str],
    source: str,
    first_number: int,
) -> list[tuple[Example, str, int]]:
    """Every pattern filled with every value of the slot it uses, with its kind (family and
    language); patterns are numbered from ``first_number`` in order."""
    sentences: list[tuple[Example, str, int]] = []
    number = first_number
    for family in families:
        for pattern in family.patterns:
            if "{s}" in pattern:
                fills = [{"s": s, "t": t} for t in topics for s in stances]
            elif "{w}" in pattern:
                fills = [{"w": w} for w in words]
            elif "{g}" in pattern.lower():
                fills = [{"g": g, "G": _capitalise(g)} for g in groups]
            else:
                fills = [{}]
            seen: set[str] = set()
            for values in fills:
                text = _capitalise(pattern.format(**values))
                if text not in seen:
                    seen.add(text)
                    example = Example(text, source, dict(family.targets))
                    sentences.append((example, f"{family.kind} ({language})", number))
            number += 1
    return sentences


FRENCH_FIRST_NUMBER = 1_000
"""French patterns are numbered from here (English ones from 0)."""


MIRRORED_KINDS = frozenset({"opponent-insult", "civil-opinion"})
"""Kinds filled for both sides of every stance, which must stay mirrored."""
MISSPELT_SHARE = 4
"""One sentence in this many also enters training misspelt (see ``misspelt``)."""

_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "$"})
_LONG_WORD = re.compile(r"[^\W\d_]{4,}")


def misspelt(text: str) -> str:
    """``text`` with one of its longer words disguised, as people do to slip past filters:
    two letters swapped, one dropped, digits for letters, the letters spaced out, or the
    space after it dropped.

    The word and the disguise are chosen by a generator seeded with the text, so the
    variants are the same on every run."""
    chooser = random.Random(f"misspelt:{text}")
    words = list(_LONG_WORD.finditer(text))
    if not words:
        return text
    found = chooser.choice(words)
    word, start, end = found.group(), found.start(), found.end()
    how = chooser.randrange(5)
    if how == 0:
        i = chooser.randrange(1, len(word) - 2)
        disguised = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    elif how == 1:
        i = chooser.randrange(1, len(word) - 1)
        disguised = word[:i] + word[i + 1 :]
    elif how == 2:
        disguised = word.translate(_LEET)
    elif how == 3:
        disguised = " ".join(word)
    elif text[end : end + 1] == " " and text[end + 1 : end + 2].isalpha():
        return text[:end] + text[end + 1 :]
    else:
        disguised = word  # no word follows to join: spaced out below instead
    if disguised == word:  # a swap of twin letters, or no letter to replace by a digit
        disguised = " ".join(word)
    return text[:start] + disguised + text[end:]


def family_of(kind: str) -> str:
    """The family of a sentence's kind label: "negation" for "negation (fr)"."""
    return kind.rsplit(" (", 1)[0]


def _with_misspellings(
    sentences: list[tuple[Example, str, int]],
) -> list[tuple[Example, str, int]]:
    """``sentences`` and a misspelt copy of every ``MISSPELT_SHARE``-th of them, kept in
    its pattern (so cross-validation holds it out with its original) and its targets.
    Benign sentences are disguised as often as abusive ones, so a disguise is never a
    sign of abuse in itself. Stance sentences are left alone: a misspelling on one side of
    a pair only would break the mirror that keeps the labels from learning a side."""
    variants: list[tuple[Example, str, int]] = []
    for position, (example, kind, number) in enumerate(sentences):
        if position % MISSPELT_SHARE or family_of(kind) in MIRRORED_KINDS:
            continue
        text = misspelt(example.text)
        if text != example.text:
            variants.append((Example(text, example.source, dict(example.targets)), kind, number))
    return sentences + variants


def context_examples() -> list[tuple[Example, str, int]]:
    """The training sentences as ``(example, kind, pattern number)``, English then French,
    each language followed by its misspelt variants."""
    english = _fill("en", _EN_FAMILIES, _EN_GROUPS, _EN_WORDS, _EN_STANCES, _EN_TOPICS, SOURCE, 0)
    french = _fill(
        "fr",
        _FR_FAMILIES,
        _FR_GROUPS,
        _FR_WORDS,
        _FR_STANCES,
        _FR_TOPICS,
        SOURCE,
        FRENCH_FIRST_NUMBER,
    )
    return _with_misspellings(english) + _with_misspellings(french)


def language_of_number(number: int) -> str:
    """The language (``en`` or ``fr``) of the pattern numbered ``number``."""
    return "fr" if number >= FRENCH_FIRST_NUMBER else "en"


def validation_examples() -> list[tuple[Example, str, int]]:
    """Held-out sentences (never trained on) as ``(example, kind, pattern number)``."""
    english = _fill(
        "en",
        _EN_VALIDATION_FAMILIES,
        _EN_VALIDATION_GROUPS,
        _EN_VALIDATION_WORDS,
        _EN_STANCES,
        _EN_VALIDATION_TOPICS,
        VALIDATION_SOURCE,
        0,
    )
    french = _fill(
        "fr",
        _FR_VALIDATION_FAMILIES,
        _FR_VALIDATION_GROUPS,
        _FR_VALIDATION_WORDS,
        _FR_STANCES,
        _FR_VALIDATION_TOPICS,
        VALIDATION_SOURCE,
        FRENCH_FIRST_NUMBER,
    )
    return english + french
