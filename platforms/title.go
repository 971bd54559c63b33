package platforms

import "regexp"

// titles are the platforms' names as people write them.
var titles = map[string]string{
	"meta": "Meta", "google_ads": "Google Ads", "tiktok": "TikTok", "reddit": "Reddit", "linkedin": "LinkedIn",
	"microsoft": "Microsoft Ads", "pinterest": "Pinterest", "snapchat": "Snapchat",
}

// Title is a platform's name as people write it ("Google Ads" for
// "google_ads"); an unknown key is returned as it is.
func Title(platform string) string {
	if t, ok := titles[platform]; ok {
		return t
	}
	return platform
}

// platformKey matches a platform key as a whole word, as Postback's own
// notes and messages name platforms ("adjustment queued for google_ads").
var platformKey = regexp.MustCompile(`\b(meta|google_ads|tiktok|reddit|linkedin|microsoft|pinterest|snapchat)\b`)

// Titled replaces the platform keys in a text Postback wrote for people
// with the platforms' titles. Only lower-case keys are replaced, so a word
// already written as a name ("Meta", "Microsoft rejected …") stays.
func Titled(text string) string {
	return platformKey.ReplaceAllStringFunc(text, Title)
}
