//! Natural-language questions (`ask`); this branch carries only its LLM client, [`llm`].
pub mod llm;
