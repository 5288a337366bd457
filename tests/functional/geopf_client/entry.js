// The Géoportail's own search-engine control (geopf-extensions-openlayers), as a page embeds
// it, with only its base URLs changed: from data.geopf.fr/geocodage to balise's.
import Map from "ol/Map.js";
import View from "ol/View.js";
import {fromLonLat, toLonLat} from "ol/proj.js";
import SearchEngine from "geopf-extensions-openlayers/src/packages/Controls/SearchEngine/SearchEngine.js";
import "ol/ol.css";
import "geopf-extensions-openlayers/css/Classic.css";

const base = new URLSearchParams(window.location.search).get("geocodage");
const map = new Map({target: "map", view: new View({center: fromLonLat([2.35, 46.6]), zoom: 5})});
const control = new SearchEngine({
  collapsed: false,
  apiKey: "none",
  autocompleteOptions: {serviceOptions: {serverUrl: base + "/completion"}},
  geocodeOptions: {serviceOptions: {serverUrl: base + "/search"}},
});
map.addControl(control);
window.client = {
  events: [],
  centre: () => toLonLat(map.getView().getCenter()),
};
for (const name of ["searchengine:autocomplete:click", "searchengine:geocode:click"]) {
  control.on(name, (event) => window.client.events.push({type: name, location: event.location || null}));
}
