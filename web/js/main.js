// Wires the page's panels and the API key field.

import { apiKey, setApiKey } from "./api.js";
import { setupCaptions } from "./captions.js";
import { setupEcho } from "./echo.js";
import { setupSpeak } from "./speak.js";
import { setupTranscribe } from "./transcribe.js";

const keyField = document.getElementById("api-key");
keyField.value = apiKey();
keyField.addEventListener("change", () => setApiKey(keyField.value.trim()));
// Enter in the key field keeps the key; the form itself goes nowhere.
document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setApiKey(keyField.value.trim());
});

setupSpeak();
setupTranscribe();
setupCaptions();
setupEcho();
