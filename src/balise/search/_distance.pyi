# Stub of the compiled _distance.pyx (the types mypy checks its callers against).
import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM: float
GEO_DISTANCE_WEIGHT: float

def haversine_km_array(lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: float, lon2: float
                       ) -> npt.NDArray[np.float64]: ...
def total_with_centre(str_distance: npt.ArrayLike, importance: npt.ArrayLike, km: npt.ArrayLike
                      ) -> npt.NDArray[np.float64]: ...
