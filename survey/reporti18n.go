package survey

import "strings"

// reportText is the self-report page's words in one language.
type reportText struct {
	Title, Greeting, GreetingNoName, Explain, Hint string
	Person, FirstName, Phone, Email, LastContact   string
	Household, Add, Remove, Submit                 string
	Invalid                                        string
	Thanks, Used, Expired, NotFound, TooMany       string
	Unavailable, Close                             string
	Problems                                       map[string]string
}

var reportTexts = map[string]reportText{
	"en": {
		Title:          "People you were close to",
		Greeting:       "Hi %s,",
		GreetingNoName: "Hello,",
		Explain:        "A contact tracer will call each person you list, to help them stay safe. They will never be told who gave us their name.",
		Hint:           "List the people you were near in the last 21 days. Give a mobile phone number or an email for each.",
		Person:         "Person %d",
		FirstName:      "First name",
		Phone:          "Mobile phone",
		Email:          "Email (if no phone)",
		LastContact:    "Last day together",
		Household:      "Lives with me",
		Add:            "Add another person",
		Remove:         "Remove",
		Submit:         "Send the list",
		Invalid:        "Some rows need a change. Look for the messages below.",
		Thanks:         "Thank you. A contact tracer will reach out to the people you listed.",
		Used:           "Your list was already received. Thank you.",
		Expired:        "This link has expired. Please call the health department if you want to add someone.",
		NotFound:       "This link is not valid. Please use the link from your latest text message.",
		TooMany:        "Too many attempts. Please wait a minute and try again.",
		Unavailable:    "We could not save your list just now. Please try again in a few minutes.",
		Close:          "You can close this page now.",
		Problems: map[string]string{
			probNameMissing:    "Please enter a first name.",
			probNameTooLong:    "Please use at most 40 characters.",
			probContactMissing: "Please enter a mobile phone number or an email.",
			probPhoneInvalid:   "This phone number does not look right.",
			probEmailInvalid:   "This email does not look right.",
			probDateInvalid:    "Please enter the date as YYYY-MM-DD.",
			probDateFuture:     "This date is in the future.",
			probDateTooOld:     "Only list people you saw in the last 21 days.",
			probEmpty:          "Please add at least one person.",
			probTooMany:        "You can list up to 30 people.",
		},
	},
	"es": {
		Title:          "Personas con las que estuvo cerca",
		Greeting:       "Hola, %s:",
		GreetingNoName: "Hola:",
		Explain:        "Un rastreador de contactos llamará a cada persona de su lista para ayudarla a cuidarse. Nunca se le dirá quién nos dio su nombre.",
		Hint:           "Anote a las personas con las que estuvo cerca en los últimos 21 días. Indique un teléfono móvil o un correo electrónico de cada una.",
		Person:         "Persona %d",
		FirstName:      "Nombre",
		Phone:          "Teléfono móvil",
		Email:          "Correo electrónico (si no hay teléfono)",
		LastContact:    "Último día juntos",
		Household:      "Vive conmigo",
		Add:            "Agregar otra persona",
		Remove:         "Quitar",
		Submit:         "Enviar la lista",
		Invalid:        "Hay filas que corregir. Vea los mensajes abajo.",
		Thanks:         "Gracias. Un rastreador de contactos se comunicará con las personas de su lista.",
		Used:           "Ya recibimos su lista. Gracias.",
		Expired:        "Este enlace ha vencido. Llame al departamento de salud si quiere agregar a alguien.",
		NotFound:       "Este enlace no es válido. Use el enlace de su mensaje de texto más reciente.",
		TooMany:        "Demasiados intentos. Espere un minuto y vuelva a intentarlo.",
		Unavailable:    "No pudimos guardar su lista en este momento. Vuelva a intentarlo en unos minutos.",
		Close:          "Ya puede cerrar esta página.",
		Problems: map[string]string{
			probNameMissing:    "Escriba un nombre.",
			probNameTooLong:    "Use como máximo 40 caracteres.",
			probContactMissing: "Escriba un teléfono móvil o un correo electrónico.",
			probPhoneInvalid:   "Este número de teléfono no parece correcto.",
			probEmailInvalid:   "Este correo electrónico no parece correcto.",
			probDateInvalid:    "Escriba la fecha como AAAA-MM-DD.",
			probDateFuture:     "Esta fecha es futura.",
			probDateTooOld:     "Anote solo a personas que vio en los últimos 21 días.",
			probEmpty:          "Agregue al menos una persona.",
			probTooMany:        "Puede anotar hasta 30 personas.",
		},
	},
}

// reportChrome is chrome for the report page: exact, base language, en.
func reportChrome(lang string) (reportText, string) {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if t, ok := reportTexts[lang]; ok {
		return t, lang
	}
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		if t, ok := reportTexts[lang[:i]]; ok {
			return t, lang[:i]
		}
	}
	return reportTexts["en"], "en"
}
