//! The set of component factories a binary is built with.

use kakehashi_component::{
    ConnectorFactory, ExporterFactory, ExtensionFactory, FactoryInfo, ProcessorFactory,
    ReceiverFactory,
};
use kakehashi_config::Kind;
use std::sync::Arc;

/// Every component type the binary knows, per kind. The binary lists them explicitly.
#[derive(Clone, Default)]
pub struct Factories {
    pub receivers: Vec<Arc<dyn ReceiverFactory>>,
    pub processors: Vec<Arc<dyn ProcessorFactory>>,
    pub exporters: Vec<Arc<dyn ExporterFactory>>,
    pub extensions: Vec<Arc<dyn ExtensionFactory>>,
    pub connectors: Vec<Arc<dyn ConnectorFactory>>,
}

fn find<'a, F: FactoryInfo + ?Sized>(list: &'a [Arc<F>], type_name: &str) -> Option<&'a Arc<F>> {
    list.iter()
        .find(|f| f.type_name() == type_name || f.aliases().contains(&type_name))
}

impl Factories {
    pub fn receiver(&self, t: &str) -> Option<&Arc<dyn ReceiverFactory>> {
        find(&self.receivers, t)
    }
    pub fn processor(&self, t: &str) -> Option<&Arc<dyn ProcessorFactory>> {
        find(&self.processors, t)
    }
    pub fn exporter(&self, t: &str) -> Option<&Arc<dyn ExporterFactory>> {
        find(&self.exporters, t)
    }
    pub fn extension(&self, t: &str) -> Option<&Arc<dyn ExtensionFactory>> {
        find(&self.extensions, t)
    }
    pub fn connector(&self, t: &str) -> Option<&Arc<dyn ConnectorFactory>> {
        find(&self.connectors, t)
    }

    /// Sorted type names (with aliases) of one kind, for `unknown type` errors.
    pub fn type_names(&self, kind: Kind) -> Vec<&'static str> {
        fn names<F: FactoryInfo + ?Sized>(l: &[Arc<F>]) -> Vec<&'static str> {
            l.iter()
                .flat_map(|f| std::iter::once(f.type_name()).chain(f.aliases().iter().copied()))
                .collect()
        }
        let mut v = match kind {
            Kind::Receiver => names(&self.receivers),
            Kind::Processor => names(&self.processors),
            Kind::Exporter => names(&self.exporters),
            Kind::Extension => names(&self.extensions),
            Kind::Connector => names(&self.connectors),
        };
        v.sort_unstable();
        v
    }

    /// The factory info of a type of the given kind.
    pub fn info(&self, kind: Kind, t: &str) -> Option<&dyn FactoryInfo> {
        match kind {
            Kind::Receiver => self.receiver(t).map(|f| f.as_ref() as &dyn FactoryInfo),
            Kind::Processor => self.processor(t).map(|f| f.as_ref() as &dyn FactoryInfo),
            Kind::Exporter => self.exporter(t).map(|f| f.as_ref() as &dyn FactoryInfo),
            Kind::Extension => self.extension(t).map(|f| f.as_ref() as &dyn FactoryInfo),
            Kind::Connector => self.connector(t).map(|f| f.as_ref() as &dyn FactoryInfo),
        }
    }
}
