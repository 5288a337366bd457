"""Forward search behaviours on the real dev data (Paris BAN + 23 BANO départements)."""

from __future__ import annotations

import pytest

from balise.errors import InvalidParameter, QueryTooLong


def top(geocoder, q, **options):
    features = geocoder.search(q, **options)["features"]
    return features[0]["properties"] if features else None


def labels(geocoder, q, **options):
    return [f["properties"]["label"] for f in geocoder.search(q, **options)["features"]]


def test_full_address(geocoder):
    p = top(geocoder, "34 Avenue de l'Opéra 75002 Paris")
    assert p["label"] == "34 Avenue de l'Opéra 75002 Paris"
    assert p["type"] == "housenumber"
    assert p["housenumber"] == "34"
    assert p["street"] == "Avenue de l'Opéra"
    assert p["name"] == "34 Avenue de l'Opéra"
    assert p["id"] == "75102_6904_00034"
    assert p["score"] > 0.9


def test_geocodejson_envelope(geocoder):
    fc = geocoder.search("rue de rivoli", limit=2, filters={"citycode": "75101"})
    assert fc["type"] == "FeatureCollection"
    assert fc["version"] == "draft"
    assert fc["query"] == "rue de rivoli"
    assert fc["limit"] == 2
    assert fc["filters"] == {"citycode": ["75101"]}
    feature = fc["features"][0]
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "Point"
    lon, lat = feature["geometry"]["coordinates"]
    assert 2.2 < lon < 2.5 and 48.8 < lat < 48.9
    assert "lat" not in feature["properties"] and "housenumbers" not in feature["properties"]


def test_street_with_abbreviation(geocoder):
    assert labels(geocoder, "pl clichy", limit=1) == ["Place de Clichy 75017 Paris"]


def test_municipality(geocoder):
    p = top(geocoder, "Aiglun", filters={"type": "municipality"})
    assert (p["type"], p["citycode"], p["municipality"]) == ("municipality", "04001", "Aiglun")


def test_autocomplete_completes_the_last_word(geocoder):
    p = top(geocoder, "avenue de la répu", autocomplete=True)
    assert p["name"] == "Avenue de la République"
    assert top(geocoder, "chateau arnoux", autocomplete=True)["name"] == "Château-Arnoux-Saint-Auban"


def test_autocomplete_off_does_not_complete(geocoder):
    fc = geocoder.search("avenue de la répu", autocomplete=False, limit=10)
    assert all(f["properties"]["score"] < 0.9 for f in fc["features"])


@pytest.mark.parametrize("q", ["boulevard ponyatowski", "bd poniatowsk", "20 bd ponyatowsky"])
def test_fuzzy_one_edit(geocoder, q):
    assert top(geocoder, q)["street" if q[0].isdigit() else "name"] == "Boulevard Poniatowski"


def test_filters(geocoder):
    p = top(geocoder, "rue de la mairie", filters={"postcode": "04510"})
    assert p["postcode"] == "04510"
    p = top(geocoder, "rue de la mairie", filters={"citycode": ["04001"]})
    assert p["citycode"] == "04001"
    streets = geocoder.search("aiglun", filters={"type": "street"}, limit=5)["features"]
    assert streets and all(f["properties"]["type"] == "street" for f in streets)
    # Several values of one filter are alternatives; a space separates them too.
    both = geocoder.search("rue de la mairie", filters={"postcode": "04510 05190"}, limit=10)
    assert {f["properties"]["postcode"] for f in both["features"]} == {"04510", "05190"}


def test_housenumber_filter_keeps_only_numbers(geocoder):
    fc = geocoder.search("avenue jean jaures gap", filters={"type": "housenumber"})
    assert fc["features"] == []  # no number asked: nothing to return
    p = top(geocoder, "23 avenue jean jaures gap", filters={"type": "housenumber"})
    assert (p["type"], p["housenumber"]) == ("housenumber", "23")


def test_center_bias(geocoder):
    far = top(geocoder, "rue de la mairie")
    near = top(geocoder, "rue de la mairie", lat=44.55, lon=6.27)
    assert near["citycode"] != far["citycode"]
    assert near["distance"] < 20_000
    assert "distance" not in far


def test_housenumber_not_in_street_gives_the_street(geocoder):
    p = top(geocoder, "19B Rue des Deux Ponts Paris")
    assert (p["type"], p["name"]) == ("street", "Rue des Deux Ponts")


def test_housenumber_written_after_the_street(geocoder):
    """Beyond Addok: "Rue de Rivoli 12" finds number 12 (Addok answers Rue du Tivoli, Aveyron)."""
    p = top(geocoder, "Rue de Rivoli 12")
    assert (p["type"], p["housenumber"], p["street"]) == ("housenumber", "12", "Rue de Rivoli")
    p = top(geocoder, "rue de la paix 3 paris")
    assert p["label"] == "3 Rue de la Paix 75002 Paris"


def test_number_in_a_street_name_stays_in_the_name(geocoder):
    p = top(geocoder, "rue du 8 mai 1945 chaumont")
    assert (p["type"], p["name"]) == ("street", "Rue du 8 Mai 1945")


def test_bis_and_b_are_told_apart(geocoder):
    """Beyond Addok, which folds "bis" to "b" and keeps one of the two numbers."""
    bis = geocoder.search("23 bis avenue jean jaures gap")["features"][0]
    b = geocoder.search("23 b avenue jean jaures gap")["features"][0]
    assert bis["properties"]["housenumber"] == "23BIS"
    assert b["properties"]["housenumber"] == "23B"
    assert bis["geometry"] != b["geometry"]


def test_bis_falls_back_to_b_when_only_one_exists(geocoder):
    p = top(geocoder, "18 bis rue des deux ponts paris")
    assert p["housenumber"] in ("18b", "18B") and p["type"] == "housenumber"


def test_found_by_any_postcode(geocoder):
    """Beyond Addok: the postcode asked for is the one shown (Paris 16e has 75016 and 75116)."""
    p = top(geocoder, "paris 16e arrondissement 75116")
    assert (p["citycode"], p["postcode"]) == ("75116", "75116")
    p = top(geocoder, "paris 16e arrondissement 75016")
    assert (p["citycode"], p["postcode"]) == ("75116", "75016")
    p = top(geocoder, "malijai 04510")
    assert (p["citycode"], p["postcode"]) == ("04108", "04510")


def test_noise_is_cleaned(geocoder):
    p = top(geocoder, "Mairie BP 12 8 place de la Mairie 04510 Aiglun CEDEX 05")
    assert p["name"].endswith("Place de la Mairie") and p["citycode"] == "04001"


def test_results_are_deterministic(geocoder):
    first = geocoder.search("rue de la mairie", limit=10)
    assert all(geocoder.search("rue de la mairie", limit=10) == first for _ in range(3))


def test_empty_and_unknown_queries(geocoder):
    assert geocoder.search("", limit=3)["features"] == []
    assert geocoder.search("   ")["features"] == []
    assert geocoder.search("zzzzqqqq xxyyzz")["features"] == []


def test_debug_explains_the_score(geocoder):
    p = top(geocoder, "12 rue des deux ponts paris", debug=True)
    debug = p["_debug"]
    assert debug["housenumbers"] == ["douz"]
    assert set(debug["score_parts"]) == {"importance", "str_distance"}
    assert debug["trace"]


def test_bad_parameters(geocoder):
    with pytest.raises(QueryTooLong):
        geocoder.search("x" * 201)
    with pytest.raises(InvalidParameter):
        geocoder.search("paris", limit=-1)
    with pytest.raises(InvalidParameter):
        geocoder.search("paris", limit=101)
    with pytest.raises(InvalidParameter):
        geocoder.search("paris", lat=91, lon=2)
    with pytest.raises(InvalidParameter):
        geocoder.search("paris", filters={"colour": "red"})


def test_a_repeated_word_counts_twice_as_in_addok(geocoder):
    """Addok keeps both "tremouilles": dropping two words then keeps one of them."""
    p = top(geocoder, "VILLAGE TREMOUILLES 12290 TREMOUILLES")
    assert p["name"] == "Rue de la Trémouille"


def test_related_words_give_candidates_when_nothing_matches_all(geocoder):
    """No document has every word: groups of words found together still give answers."""
    p = top(geocoder, "13 rue du Général-Sarrut 09700 Canté")
    assert p["postcode"] == "09700"


def test_dropped_text_is_read_again_only_when_it_may_name_a_place(geocoder):
    """Text that address extraction drops ("Ets Opéra, 34 avenue ...") gets a reading of its
    own only when each of its words is a word of some document's place (term.flags) and some
    document has them all: a street's word names no place, and the answer stays the same."""
    from balise.search._readings import could_name_a_place

    engine = geocoder.engine
    assert could_name_a_place(engine, "paris")
    assert could_name_a_place(engine, "paris 2e arrondissement")
    assert not could_name_a_place(engine, "opera")  # in documents, in no place
    assert not could_name_a_place(engine, "sarl opera")  # "sarl" in no document
    p = top(geocoder, "Ets Opera 34 Avenue de l'Opéra 75002 Paris")
    assert p["label"] == "34 Avenue de l'Opéra 75002 Paris"


@pytest.mark.parametrize("q", ["rue de rivoli 12 paris", "Avenue de l'Opéra 34 75002 Paris",
                               "boulevard saint germain 3 bis", "rue du 8 mai 1945 8", "route nationale 7"])
def test_a_number_written_last_scores_as_its_labels(geocoder, q):
    """A candidate's text score, from its stored labels in C with what a number written last
    adds, is the score of the labels ``Scorer.labels`` makes (addok-france's, in Python)."""
    from balise.search._collectors import collect
    from balise.search._query import QueryText
    from balise.search._search import Search
    from balise.search._textscore import score_labels

    engine = geocoder.engine
    for autocomplete in (False, True):
        search = Search(engine, QueryText(engine.pipeline, q), trailing_number_as_housenumber=True,
                        autocomplete=autocomplete)
        collect(search)
        columns = range(search.scorer.columns)
        assert columns
        for i in columns:
            want = score_labels(search.query.bigrams, [search.scorer.labels(i)[1]], autocomplete)[0]
            assert search.scorer.text_of(i) == want, (q, search.scorer.labels(i))
