package survey

import "strings"

// text is the page chrome in one language; question labels come from the
// mapping.
type text struct {
	Title, Greeting, GreetingNoName, Intro, ForDay string
	Yes, No, Submit, Required, Optional            string
	Thanks, Used, Expired, NotFound                string
	Invalid, TooMany, Unavailable, Close           string
}

var texts = map[string]text{
	"en": {
		Title:          "Daily health check",
		Greeting:       "Hi %s,",
		GreetingNoName: "Hello,",
		Intro:          "Please answer today's short questions. It takes less than a minute.",
		ForDay:         "Health check for %s",
		Yes:            "Yes",
		No:             "No",
		Submit:         "Send my answers",
		Required:       "required",
		Optional:       "optional",
		Thanks:         "Thank you. Your answers were received.",
		Used:           "Your answers were already received. Thank you.",
		Expired:        "This link has expired. You will get a new link with your next reminder.",
		NotFound:       "This link is not valid. Please use the link from your latest text message.",
		Invalid:        "Please answer every question with yes or no, then send again.",
		TooMany:        "Too many attempts. Please wait a minute and try again.",
		Unavailable:    "We could not save your answers just now. Please try again in a few minutes.",
		Close:          "You can close this page now.",
	},
	"es": {
		Title:          "Control de salud diario",
		Greeting:       "Hola, %s:",
		GreetingNoName: "Hola:",
		Intro:          "Por favor, responda las preguntas de hoy. Toma menos de un minuto.",
		ForDay:         "Control de salud del %s",
		Yes:            "Sí",
		No:             "No",
		Submit:         "Enviar mis respuestas",
		Required:       "obligatoria",
		Optional:       "opcional",
		Thanks:         "Gracias. Recibimos sus respuestas.",
		Used:           "Ya recibimos sus respuestas. Gracias.",
		Expired:        "Este enlace ha vencido. Recibirá un enlace nuevo con su próximo recordatorio.",
		NotFound:       "Este enlace no es válido. Use el enlace de su mensaje de texto más reciente.",
		Invalid:        "Por favor, responda cada pregunta con sí o no y vuelva a enviar.",
		TooMany:        "Demasiados intentos. Espere un minuto y vuelva a intentarlo.",
		Unavailable:    "No pudimos guardar sus respuestas en este momento. Vuelva a intentarlo en unos minutos.",
		Close:          "Ya puede cerrar esta página.",
	},
}

// chrome picks the page text for lang: exact, then base language, then en.
// It also returns the language the text is really in, for the lang attribute.
func chrome(lang string) (text, string) {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if t, ok := texts[lang]; ok {
		return t, lang
	}
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		if t, ok := texts[lang[:i]]; ok {
			return t, lang[:i]
		}
	}
	return texts["en"], "en"
}

// acceptLanguage picks a supported language from the header, for pages that
// have no verified link to say which (404).
func acceptLanguage(h string) string {
	for _, part := range strings.Split(h, ",") {
		tag := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		if _, got := chrome(tag); tag != "" && got != "en" {
			return got
		}
		if strings.HasPrefix(strings.ToLower(tag), "en") {
			return "en"
		}
	}
	return "en"
}
