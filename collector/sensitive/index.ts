// Sensitive locations: the catalogue (catalogue.json + config), the path
// classifier and the consumer check. See ./catalogue.ts for the config shape.
export { builtInClasses, parseSensitiveSection, sensitiveSectionSchema, SensitiveConfigError, type SensitiveClass, type SensitiveSection, type ParseOptions } from './catalogue.js';
export { classifyPath, PathClassifier, type PathContext, type SensitiveMatch } from './classify-path.js';
export { isConsumer, type ProcessIdentity } from './consumers.js';
