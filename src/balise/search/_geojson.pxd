# cython: language_level=3

cpdef dict feature(dict doc, dict housenumber_props, str housenumber, str label, double score,
                   object distance_km, str original_type, object postcodes=*, object debug=*)
