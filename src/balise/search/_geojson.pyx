# cython: language_level=3, boundscheck=False, wraparound=False
"""A geocodejson feature, shaped exactly like Addok's /search/ and /reverse/ ones (compiled:
every result of every answer is one).

The document is read where the index keeps it (a parsed, shared dict) and never copied:
the house number's properties, the postcode the query asked for and the "housenumber" type
are taken as the feature is built, in the order Addok's merged dict would have them.

NOTE: the only implementation: there is no pure-Python twin to keep in step.
"""

cdef frozenset HIDDEN = frozenset(("lat", "lon", "_id", "housenumbers"))


cdef inline object first(object value):
    if isinstance(value, (list, tuple)) and value:
        return value[0]
    return value


cdef inline void put(dict properties, str key, object value):
    value = first(value)
    if value and key not in HIDDEN and key[0] != "_":
        properties[key] = value


cpdef dict feature(dict doc, dict housenumber_props, str housenumber, str label, double score,
                   object distance_km, str original_type, object postcodes=None, object debug=None):
    """The feature of a document, or of one of its house numbers (``housenumber_props``: its
    properties, ``housenumber`` its raw form, None for the document itself); ``postcodes``
    replaces the document's postcode list (the one the query asked for first)."""
    cdef dict extra = housenumber_props
    name = doc.get("name") if extra is None else extra.get("name", doc.get("name"))
    cdef dict properties = {"label": label or first(name), "score": score}
    if housenumber:
        properties["housenumber"] = housenumber
    lon, lat = doc.get("lon"), doc.get("lat")
    for key, value in doc.items():
        if postcodes is not None and key == "postcode":
            value = postcodes
        if extra is not None:
            if key == "type":
                value = "housenumber"
            elif key in extra:
                value = extra[key]
        put(properties, key, value)
    if extra is not None:
        for key, value in extra.items():
            if key not in doc:
                put(properties, key, "housenumber" if key == "type" else value)
        if "type" not in doc and "type" not in extra:
            properties["type"] = "housenumber"
        lon, lat = extra.get("lon", lon), extra.get("lat", lat)
    if original_type and original_type not in properties:
        properties[original_type] = properties.get("name")
    if housenumber:
        properties["name"] = f"{housenumber} {properties.get('name')}"
    if distance_km is not None:
        properties["distance"] = int(distance_km * 1000)
    if debug is not None:
        properties["_debug"] = debug
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
        "properties": properties,
    }
