// Sensitive locations: the catalogue (catalogue.json + config), the path
// classifier and the consumer check. See ./catalogue.ts for the config shape.
//
// Wired: the store tags every open of an agent at commit
// (collector/store/sensitive-tags.ts: PathClassifier + UserHomes, rows under
// the chain), `sensor query --sensitive [CLASS]` filters on the tags, the
// config's `sensitive:` section reaches both through DetectionOptions
// (sensor/agents/config.ts sensitiveClassesOf), and the rules of
// collector/detect/detectors/ use alertOnRead and isConsumer
// (detectors/credential-use.ts).
export { builtInClasses, parseSensitiveSection, sensitiveSectionSchema, SensitiveConfigError, type SensitiveClass, type SensitiveSection, type ParseOptions } from './catalogue.js';
export { classifyPath, PathClassifier, type PathContext, type SensitiveMatch } from './classify-path.js';
export { isConsumer, isScanner, type ProcessIdentity } from './consumers.js';
export { parsePasswd, UserHomes } from './user-homes.js';
